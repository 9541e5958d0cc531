"""Abdominal CT phantoms: a painted tissue map, turned into Hounsfield units with blur and CT-like noise.

Each case draws its own body size, organ shapes and positions, liver and organ densities, tumors, voxel
spacing and noise level from one ``numpy.random.Generator``, so a (seed, case) pair gives the same
volume on every machine. Tissues are painted in anatomical order (later ones cover earlier ones); the
label map is read off the final tissue map, so whatever covers the liver (vessels at the hilum, the
gallbladder, kidneys) is not labelled liver.

Each case also draws a contrast phase (:mod:`liver3d.phantoms.contrast`: non-contrast, late arterial, portal
venous, delayed, with the organ and vessel densities each gives), a liver condition (normal, fatty, cirrhotic
with a nodular surface, shrunken right lobe, large caudate, ascites and splenomegaly, or hepatomegaly),
lesions whose look follows the phase (:mod:`liver3d.phantoms.lesions`), a scan range (the whole upper abdomen
with or without the lung bases and heart, or the liver cut by the top or bottom of the scan, or a thin slab)
and an acquisition (:mod:`liver3d.phantoms.acquisition`: slice thickness and profile, kernel, noise,
streaks). Phase-independent densities: fat about -100 HU, bone 300-1000, lung bases about -850, bile 0-20.

Cases on a drawn grid (``shape=None``, as the release recipe uses) also vary two things real scans vary and
the fixed-shape demo cases keep constant (generator 2.1): the size of the left lobe, which ranges from a small
lateral segment to a large one crossing the midline and reaching the spleen ("beaver tail" liver; left-lobe
size is among the most variable features of liver morphology), and the reconstruction field of view, which on
many abdominal CTs is narrower than the patient and cuts the flanks off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from scipy import ndimage

from liver3d.phantoms.acquisition import Acquisition, apply_acquisition, draw_acquisition, streak_field
from liver3d.phantoms.contrast import FATTY_LIVER_DROP_HU, Phase, draw_phase, draw_phase_densities
from liver3d.phantoms.geometry import Box, PatientGrid, Wobble, ellipsoid_q, smooth_union, tube_distance
from liver3d.phantoms.lesions import Lesion, plant_lesions


class Tissue(IntEnum):
    AIR = 0
    TABLE = 1
    SKIN = 2
    FAT = 3
    MUSCLE = 4
    VISCERAL_FAT = 5
    LUNG = 6
    HEART = 7
    DIAPHRAGM = 8
    BOWEL_WALL = 9
    BOWEL_CONTENT = 10
    GAS = 11
    STOMACH_WALL = 12
    STOMACH_FLUID = 13
    LIVER = 14
    LIVER_VESSEL = 15
    GALLBLADDER = 16
    SPLEEN = 17
    PANCREAS = 18
    KIDNEY = 19
    RENAL_SINUS = 20
    AORTA = 21
    IVC = 22
    PORTAL_VEIN = 23
    BONE_CANCELLOUS = 24
    BONE_CORTEX = 25
    POSTERIOR_ELEMENTS = 26
    SPINAL_CANAL = 27
    DISC = 28
    RIB = 29
    TABLE_FOAM = 30
    HEART_LEFT = 31  # left ventricle and atrium blood (HEART is the myocardium)
    HEART_RIGHT = 32
    HEPATIC_VEIN = 33  # intrahepatic hepatic veins (LIVER_VESSEL: portal branches)
    KIDNEY_MEDULLA = 34  # KIDNEY is the renal cortex
    ASCITES = 35
    ORAL_CONTRAST = 36
    METAL = 37
    LESION = 38  # a planted liver lesion (labelled tumor)


LIVER_TISSUES = (Tissue.LIVER, Tissue.LIVER_VESSEL, Tissue.HEPATIC_VEIN)
ORIENTATIONS = ("RAS", "LPS", "LAS")
#: Bumped whenever a seed's cases change; recorded in every dataset.json and in the model card.
GENERATOR_VERSION = "2.1"
LIVER_CONDITIONS = {"normal": 0.55, "fatty": 0.2, "cirrhosis": 0.15, "hepatomegaly": 0.1}
#: Scan ranges: the whole upper abdomen (optionally up into the chest), the liver cut by the top or bottom
#: of the scan, or a thin slab through the liver.
SCAN_RANGES = {
    "abdomen": 0.35,
    "abdomen_chest": 0.25,
    "liver_top_cut": 0.12,
    "liver_bottom_cut": 0.1,
    "slab": 0.18,
}


Tumor = Lesion  # one planted lesion (kept under its old name)


@dataclass
class PhantomCase:
    """A generated case on a RAS voxel grid: ``image`` int16 HU and ``label`` uint8, both (X, Y, Z)."""

    image: np.ndarray
    label: np.ndarray
    grid: PatientGrid
    tumors: list[Tumor]
    params: dict = field(default_factory=dict)
    tissue: np.ndarray | None = None  # uint8 Tissue map, (X, Y, Z), for per-tissue augmentation

    @property
    def affine_ras(self) -> np.ndarray:
        """Voxel-to-world (RAS mm) affine of ``image`` and ``label`` as stored here."""
        affine = np.diag([*self.grid.spacing, 1.0])
        affine[:3, 3] = self.grid.origin
        return affine


@dataclass
class _Layout:
    """Per-case anatomy parameters (mm, HU)."""

    a: float  # body half-width, left-right
    b: float  # body half-depth, anterior-posterior
    height: float  # nominal anatomy range, inferior-superior (the diaphragm's dome near its top)
    fat: float  # subcutaneous fat thickness
    wall: float  # abdominal wall muscle thickness
    scale: float  # organ size factor
    hu: dict[Tissue, float]
    phase: Phase
    condition: str  # one of LIVER_CONDITIONS
    scan_range: str  # one of SCAN_RANGES
    z_range: tuple[float, float]  # scanned range in the anatomy's mm
    acquisition: Acquisition
    oral_contrast: bool
    spleen_scale: float
    spleen_heterogeneity: float
    left_lobe_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)  # x, y, z factors on the left lobe's radii
    fov_fraction: float = 1.0  # reconstructed field of view over the body's width; < 1 cuts the flanks

    @property
    def noise_sd(self) -> float:
        return self.acquisition.noise_sd_hu


def _sample_hu(
    rng: np.random.Generator, phase: Phase, condition: str
) -> tuple[dict[Tissue, float], dict[str, float]]:
    """Mean HU per tissue for one case (phase-dependent ones from the contrast tables) and the phase draw."""
    ph = draw_phase_densities(rng, phase)
    liver = ph["liver"]
    if condition == "fatty":
        liver -= rng.uniform(*FATTY_LIVER_DROP_HU)
    elif condition == "cirrhosis" and phase is not Phase.NON_CONTRAST:
        liver -= rng.uniform(5, 20)  # cirrhotic livers enhance less
    oral = rng.uniform(150, 500)
    hu = {
        Tissue.AIR: -1000.0,
        Tissue.TABLE: rng.uniform(150, 300),
        Tissue.TABLE_FOAM: rng.uniform(-700, -500),
        Tissue.SKIN: rng.uniform(25, 45),
        Tissue.FAT: rng.uniform(-115, -85),
        Tissue.MUSCLE: ph["muscle"],
        Tissue.VISCERAL_FAT: rng.uniform(-110, -80),
        Tissue.LUNG: rng.uniform(-880, -820),
        Tissue.HEART: ph["myocardium"],
        Tissue.HEART_LEFT: ph["heart_left"],
        Tissue.HEART_RIGHT: ph["heart_right"],
        Tissue.DIAPHRAGM: ph["muscle"] + rng.uniform(-5, 5),
        Tissue.BOWEL_WALL: ph["bowel_wall"],
        Tissue.BOWEL_CONTENT: rng.uniform(10, 35),
        Tissue.GAS: -1000.0,
        Tissue.STOMACH_WALL: ph["bowel_wall"] + rng.uniform(-5, 10),
        Tissue.STOMACH_FLUID: rng.uniform(0, 20),
        Tissue.ORAL_CONTRAST: oral,
        Tissue.LIVER: liver,
        Tissue.LIVER_VESSEL: ph["portal_vein"] - rng.uniform(0, 10),
        Tissue.HEPATIC_VEIN: ph["hepatic_vein"],
        Tissue.GALLBLADDER: rng.uniform(0, 20),
        Tissue.SPLEEN: ph["spleen"],
        Tissue.PANCREAS: ph["pancreas"],
        Tissue.KIDNEY: ph["renal_cortex"],
        Tissue.KIDNEY_MEDULLA: ph["renal_medulla"],
        Tissue.RENAL_SINUS: rng.uniform(-70, -40),
        Tissue.AORTA: ph["aorta"],
        Tissue.IVC: ph["ivc"],
        Tissue.PORTAL_VEIN: ph["portal_vein"],
        Tissue.ASCITES: rng.uniform(0, 20),
        Tissue.METAL: 3000.0,
        Tissue.LESION: liver,
        Tissue.BONE_CANCELLOUS: rng.uniform(180, 360),
        Tissue.BONE_CORTEX: rng.uniform(700, 1100),
        Tissue.POSTERIOR_ELEMENTS: rng.uniform(400, 650),
        Tissue.SPINAL_CANAL: rng.uniform(15, 30),
        Tissue.DISC: rng.uniform(70, 100),
        Tissue.RIB: rng.uniform(350, 700),
    }
    return hu, ph


def _draw(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _sample_z_range(rng: np.random.Generator, height: float, scan_range: str) -> tuple[float, float]:
    """Scanned range (mm) in the anatomy's frame, where the liver spans roughly 0.3-0.95 of ``height``."""
    if scan_range == "abdomen_chest":
        return 0.0, height + rng.uniform(30, 110)
    if scan_range == "liver_top_cut":
        return 0.0, rng.uniform(0.62, 0.82) * height
    if scan_range == "liver_bottom_cut":
        return rng.uniform(0.42, 0.58) * height, height + rng.uniform(0, 60)
    if scan_range == "slab":
        length = rng.uniform(30, 120)
        centre = rng.uniform(0.5, 0.78) * height
        return centre - length / 2, centre + length / 2
    return 0.0, height


def _sample_grid(
    rng: np.random.Generator, layout: _Layout, shape: tuple[int, int, int] | None, matrix: int = 512
) -> PatientGrid:
    margin = rng.uniform(20, 50)
    needed_x = 2 * layout.a + margin
    needed_y = 2 * layout.b + margin + 40  # room for the table under the patient
    if layout.fov_fraction < 1.0:  # a field of view narrower than the patient: the flanks are cut
        needed_x = 2 * layout.a * layout.fov_fraction
        needed_y = min(needed_y, needed_x)
    z_lo, z_hi = layout.z_range
    if shape is None:
        nx = ny = int(matrix)
        pixel = rng.uniform(0.6, 0.9) * 512 / nx
        pixel = max(pixel, needed_x / nx, needed_y / ny)
        if layout.fov_fraction < 1.0:
            pixel = needed_x / nx
        thickness = layout.acquisition.slice_thickness_mm
        nz = max(int(round((z_hi - z_lo) / thickness)), 8)
    else:
        nx, ny, nz = (int(n) for n in shape)
        pixel = max(needed_x / nx, needed_y / ny)
        thickness = (z_hi - z_lo) / nz
    spacing = (float(pixel), float(pixel), float(thickness))
    # The patient is a little off the scanner's centre, as on a real table.
    origin = (
        -(nx - 1) / 2 * pixel + rng.uniform(-0.03, 0.03) * nx * pixel,
        -(ny - 1) / 2 * pixel + 20 + rng.uniform(-0.02, 0.02) * ny * pixel,
        float(z_lo),
    )
    return PatientGrid((nx, ny, nz), spacing, origin)


def _sample_layout(
    rng: np.random.Generator,
    phase: Phase | str | None = None,
    scan_range: str | None = "abdomen",
    slice_thickness_mm: float | None = None,
    anatomy_variants: bool = False,
) -> _Layout:
    a = rng.uniform(130, 175)
    phase = draw_phase(rng) if phase is None else Phase(phase)
    condition = _draw(rng, LIVER_CONDITIONS)
    scan_range = _draw(rng, SCAN_RANGES) if scan_range is None else scan_range
    if scan_range not in SCAN_RANGES:
        raise ValueError(f"scan range {scan_range!r}: choose one of {sorted(SCAN_RANGES)}")
    height = rng.uniform(200, 250)
    hu, densities = _sample_hu(rng, phase, condition)
    left_lobe, fov = (1.0, 1.0, 1.0), 1.0
    if anatomy_variants:  # only on drawn grids: fixed-shape cases stay those of generator 2.0
        if rng.random() < 0.4:
            left_lobe = (rng.uniform(1.15, 1.6), rng.uniform(1.0, 1.4), rng.uniform(1.2, 1.8))
        if rng.random() < 0.25:
            fov = rng.uniform(0.85, 1.0)
    return _Layout(
        a=a,
        b=a * rng.uniform(0.66, 0.82),
        height=height,
        fat=rng.uniform(6, 40),
        wall=rng.uniform(7, 14),
        scale=rng.uniform(0.82, 1.15),
        hu=hu,
        phase=phase,
        condition=condition,
        scan_range=scan_range,
        z_range=_sample_z_range(rng, height, scan_range),
        acquisition=draw_acquisition(rng, slice_thickness_mm),
        oral_contrast=bool(rng.random() < 0.25),
        spleen_scale=float(rng.uniform(1.3, 1.7) if condition == "cirrhosis" else rng.uniform(0.8, 1.2)),
        spleen_heterogeneity=float(densities["spleen_heterogeneity"]),
        left_lobe_scale=tuple(float(v) for v in left_lobe),
        fov_fraction=float(fov),
    )


class _Painter:
    """Paints tissues into one map in anatomical order, each within its bounding box."""

    def __init__(self, grid: PatientGrid, rng: np.random.Generator, layout: _Layout) -> None:
        self.grid = grid
        self.rng = rng
        self.lay = layout
        self.tissue = np.full(grid.shape, Tissue.AIR, dtype=np.uint8)
        self.hu_extra = np.zeros(grid.shape, dtype=np.float32)  # textures added to the tissue's base HU
        self.full_box: Box = (slice(None),) * 3  # type: ignore[assignment]

    # -- helpers -----------------------------------------------------------------------------------
    def paint(
        self, box: Box | None, mask: np.ndarray, tissue: Tissue, only_on: tuple[Tissue, ...] | None = None
    ) -> None:
        if box is None:
            return
        view = self.tissue[box]
        mask = np.broadcast_to(mask, view.shape)
        if only_on is not None:
            mask = mask & np.isin(view, np.asarray(only_on, dtype=np.uint8))
        view[mask] = tissue

    def body_r(self, axes, shrink: float = 0.0) -> np.ndarray:
        """Superellipse radius of the body outline shrunk inward by ``shrink`` mm (< 1 inside).

        The outline changes slowly along z, so it is computed once per 10 mm slab and repeated.
        """
        x, y, z = axes
        z_flat = z.reshape(-1)
        slab = np.round(z_flat / 10.0)
        out = np.empty(np.broadcast_shapes(x.shape, y.shape, z.shape), dtype=np.float32)
        for value in np.unique(slab):
            zf = value * 10.0 / self.lay.height - 0.5
            a = self.lay.a * (1 + 0.04 * zf) - shrink
            b_ant = self.lay.b * (1 + 0.03 * zf) - shrink
            b_post = 0.92 * self.lay.b * (1 + 0.03 * zf) - shrink
            b = np.where(y >= 0, b_ant, b_post)
            p = np.where(y >= 0, 2.0, 2.6)
            r2d = (np.abs(x / a) ** p + np.abs(y / b) ** p) ** (1.0 / p)
            out[..., slab == value] = r2d
        return out

    def cavity(self, axes) -> np.ndarray:
        return self.body_r(axes, self.lay.fat + self.lay.wall) < 1

    def dome_z(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Height (mm) of the diaphragm: a right and a left dome, deeper posteriorly."""
        H = self.lay.height
        right = self.dome_apex_r - ((x - 0.35 * self.lay.a) ** 2 + (y - 0.25 * self.lay.b) ** 2) / (2 * 140.0)
        left = (
            self.dome_apex_r
            - 15
            - ((x + 0.35 * self.lay.a) ** 2 + (y - 0.25 * self.lay.b) ** 2) / (2 * 140.0)
        )
        return np.maximum(np.maximum(right, left), 0.55 * H)

    # -- anatomy -----------------------------------------------------------------------------------
    def body(self) -> None:
        lay, g = self.lay, self.grid
        axes = g.axes()
        x, y, z = axes
        r = self.body_r(axes)
        inside = r < 1
        self.tissue[inside] = Tissue.FAT
        skin_r = self.body_r(axes, 2.0)
        self.tissue[inside & (skin_r >= 1)] = Tissue.SKIN
        # Subcutaneous fat is thicker anteriorly; the wall muscle lies under it.
        muscle_outer = self.body_r(axes, lay.fat) < 1
        self.tissue[muscle_outer] = Tissue.MUSCLE
        self.tissue[self.body_r(axes, lay.fat + lay.wall) < 1] = Tissue.VISCERAL_FAT

    def table(self) -> None:
        g, lay = self.grid, self.lay
        x, y, _ = g.axes()
        y_top = -0.92 * lay.b - 6 + 0.0008 * x**2
        shell_top = (y <= y_top) & (y > y_top - 2.5)
        foam = (y <= y_top - 2.5) & (y > y_top - 14)
        shell_bottom = (y <= y_top - 14) & (y > y_top - 16.5)
        width = np.abs(x) < 0.9 * (g.shape[0] * g.spacing[0]) / 2
        for mask, tissue in ((foam, Tissue.TABLE_FOAM), (shell_top | shell_bottom, Tissue.TABLE)):
            m2 = (mask & width)[:, :, 0]
            self.tissue[m2] = np.where(self.tissue[m2] == Tissue.AIR, tissue, self.tissue[m2])

    def lungs_and_heart(self) -> None:
        g, lay, rng = self.grid, self.lay, self.rng
        H = lay.height
        box = g.box((-lay.a, -lay.b, 0.55 * H), (lay.a, lay.b, self.z_top))
        if box is None:
            return
        axes = g.axes(box)
        x, y, z = axes
        cav = self.cavity(axes)
        dome = self.dome_z(x, y)
        lung = cav & (z > dome)
        diaphragm = cav & (z > dome - 5) & ~lung
        self.paint(box, diaphragm, Tissue.DIAPHRAGM)
        self.paint(box, lung, Tissue.LUNG)
        # The heart sits on the left dome: myocardium around a left (posterior-left) and right (anterior) cavity.
        s = rng.uniform(0.85, 1.15)
        c = np.array(
            [-0.15 * lay.a + rng.uniform(-15, 15), 0.3 * lay.b, self.dome_apex_r + rng.uniform(25, 45)]
        )
        yaw = rng.uniform(-40, -15)
        above = (z > dome - 5) & cav
        heart = ellipsoid_q(axes, tuple(c), (70 * s, 55 * s, 55 * s), yaw) < 1
        self.paint(box, heart & above, Tissue.HEART)
        left = ellipsoid_q(axes, tuple(c + np.array([-18, -12, 5]) * s), (32 * s, 28 * s, 36 * s), yaw) < 1
        right = ellipsoid_q(axes, tuple(c + np.array([22, 20, -3]) * s), (30 * s, 20 * s, 32 * s), yaw) < 1
        self.paint(box, right & above & (z > dome + 3), Tissue.HEART_RIGHT)
        self.paint(box, left & above & (z > dome + 3), Tissue.HEART_LEFT)

    def bowel(self) -> None:
        g, lay, rng = self.grid, self.lay, self.rng
        H = lay.height
        # Colon: ascending (right), descending (left), transverse (anterior) with mottled gas and stool.
        frames = [
            (
                np.array([0.55 * lay.a, 0.0, 0.0]),
                np.array([0.5 * lay.a, 0.05 * lay.b, 0.48 * H]),
                rng.uniform(18, 26),
            ),
            (
                np.array([-0.58 * lay.a, -0.05 * lay.b, 0.0]),
                np.array([-0.55 * lay.a, 0.0, 0.6 * H]),
                rng.uniform(14, 20),
            ),
            (
                np.array([0.5 * lay.a, 0.35 * lay.b, 0.46 * H]),
                np.array([-0.5 * lay.a, 0.4 * lay.b, 0.5 * H]),
                rng.uniform(16, 24),
            ),
        ]
        for start, end, radius in frames:
            lo = np.minimum(start, end) - radius
            hi = np.maximum(start, end) + radius
            box = g.box(tuple(lo), tuple(hi))
            if box is None:
                continue
            axes = g.axes(box)
            dist = tube_distance(axes, start, end) + Wobble(rng, 3.0, (20, 50))(axes)
            cav = self.cavity(axes)
            self.paint(box, (dist < radius) & cav, Tissue.BOWEL_WALL)
            stool = Wobble(rng, 1.0, (6, 14), 6)(axes) > 0.1
            self.paint(box, (dist < radius - 3) & cav & stool, Tissue.GAS)
            self.paint(box, (dist < radius - 3) & cav & ~stool, Tissue.BOWEL_CONTENT)
        # Small bowel loops fill the lower and mid abdomen anteriorly.
        for _ in range(int(rng.integers(25, 40))):
            c = (
                rng.uniform(-0.6, 0.6) * lay.a,
                rng.uniform(-0.1, 0.6) * lay.b,
                rng.uniform(0.0, 0.5) * H,
            )
            radii = tuple(rng.uniform(10, 20, size=3) * (1, 1, 1.3))
            box = g.box_around(c, tuple(r + 4 for r in radii))
            if box is None:
                continue
            axes = g.axes(box)
            q = ellipsoid_q(axes, c, radii, rng.uniform(0, 180))
            cav = self.cavity(axes)
            self.paint(box, (q < 1) & cav, Tissue.BOWEL_WALL)
            inner = (q < 0.7) & cav
            content = (
                Tissue.ORAL_CONTRAST if lay.oral_contrast and rng.random() < 0.6 else Tissue.BOWEL_CONTENT
            )
            self.paint(box, inner, content)
            if rng.random() < 0.35:  # gas rises to the anterior side in a supine patient
                self.paint(box, inner & (axes[1] > c[1] + 0.3 * radii[1]), Tissue.GAS)

    def stomach(self) -> None:
        g, lay, rng = self.grid, self.lay, self.rng
        c = (-0.32 * lay.a, 0.3 * lay.b, 0.66 * lay.height)
        radii = tuple(np.array([45, 35, 55]) * lay.scale * rng.uniform(0.8, 1.15))
        box = g.box_around(c, tuple(r + 5 for r in radii))
        if box is None:
            return
        axes = g.axes(box)
        yaw = rng.uniform(-40, -20)
        q = ellipsoid_q(axes, c, radii, yaw) + Wobble(rng, 0.1)(axes)
        inner = ellipsoid_q(axes, c, tuple(r - 5 for r in radii), yaw) < 1
        cav = self.cavity(axes) & (axes[2] < self.dome_z(axes[0], axes[1]) - 5)
        self.paint(box, (q < 1) & cav, Tissue.STOMACH_WALL)
        fluid = Tissue.ORAL_CONTRAST if lay.oral_contrast and rng.random() < 0.7 else Tissue.STOMACH_FLUID
        self.paint(box, inner & cav, fluid)
        level = c[1] + rng.uniform(-0.3, 0.7) * radii[1]
        self.paint(box, inner & cav & (axes[1] > level), Tissue.GAS)

    def liver(self) -> dict:
        g, lay, rng = self.grid, self.lay, self.rng
        H, s = lay.height, lay.scale
        right_s, left_s = s, s
        if lay.condition == "hepatomegaly":
            right_s = left_s = s * rng.uniform(1.18, 1.35)
        elif lay.condition == "cirrhosis":  # shrunken right lobe, enlarged left lateral segments
            right_s, left_s = s * rng.uniform(0.68, 0.85), s * rng.uniform(1.0, 1.25)
        zc = rng.uniform(0.56, 0.64) * H
        right_c = (0.4 * lay.a + rng.uniform(-12, 12), -0.05 * lay.b + rng.uniform(-12, 12), zc)
        right_r = tuple(
            np.array([0.42 * lay.a, 0.64 * lay.b, 0.3 * H]) * right_s * rng.uniform(0.88, 1.12, 3)
        )
        left_c = (-0.04 * lay.a + rng.uniform(-18, 10), 0.36 * lay.b + rng.uniform(-8, 8), zc + 0.08 * H)
        left_r = tuple(
            np.array([0.33 * lay.a, 0.26 * lay.b, 0.13 * H])
            * left_s
            * rng.uniform(0.72, 1.28, 3)
            * np.array(lay.left_lobe_scale)
        )
        if lay.left_lobe_scale[0] > 1:  # a large left lobe reaches further to the patient's left
            left_c = (left_c[0] - (lay.left_lobe_scale[0] - 1) * left_r[0] * 0.5, left_c[1], left_c[2])
        lo = np.minimum(np.subtract(right_c, right_r), np.subtract(left_c, left_r)) - 15
        hi = np.maximum(np.add(right_c, right_r), np.add(left_c, left_r)) + 15
        box = g.box(tuple(lo), tuple(hi))
        if box is None:
            raise ValueError("the liver falls outside the grid; the scan range is too small")
        axes = g.axes(box)
        q = smooth_union(
            ellipsoid_q(axes, right_c, right_r, rng.uniform(-12, 12)),
            ellipsoid_q(axes, left_c, left_r, rng.uniform(-22, 8)),
        )
        q = q + Wobble(rng, 0.18, (50, 140))(axes)
        # The caudate lobe lies between the IVC and the hilum; cirrhosis enlarges it.
        caudate_s = rng.uniform(1.4, 1.8) if lay.condition == "cirrhosis" else rng.uniform(0.8, 1.1)
        caudate_c = (self.ivc_xy[0] - 18, self.ivc_xy[1] + 22, zc + 0.05 * H)
        q = smooth_union(q, ellipsoid_q(axes, caudate_c, tuple(np.array([16, 14, 28]) * caudate_s)))
        if lay.condition == "cirrhosis":  # regenerative nodules give a nodular surface
            q = q + Wobble(rng, rng.uniform(0.06, 0.12), (8, 20), 8)(axes)
        elif rng.random() < 0.3:  # a Riedel-like inferior extension of the right lobe
            tip_c = (right_c[0] + 0.3 * right_r[0], right_c[1], zc - 0.7 * right_r[2])
            q = smooth_union(
                q, ellipsoid_q(axes, tip_c, (0.35 * right_r[0], 0.4 * right_r[1], 0.45 * right_r[2]))
            )
        liver = (q < 1) & self.cavity(axes) & (axes[2] < self.dome_z(axes[0], axes[1]) - 5)
        self.paint(box, liver, Tissue.LIVER)
        self.liver_box = box
        # Vessel trees: portal branches from the hilum, hepatic veins converging on the IVC, each with
        # second-order branches.
        hilum = np.array(
            [right_c[0] - 0.35 * right_r[0], right_c[1] - 0.1 * right_r[1], zc - 0.15 * right_r[2]]
        )
        ivc_top = np.array([self.ivc_xy[0], self.ivc_xy[1], zc + 0.6 * right_r[2]])
        centres = (np.array(right_c), np.array(left_c))
        extents = (np.array(right_r), np.array(left_r))
        for root, tissue, r0 in ((hilum, Tissue.LIVER_VESSEL, 5.5), (ivc_top, Tissue.HEPATIC_VEIN, 6.0)):
            for _ in range(int(rng.integers(3, 6))):
                lobe = int(rng.random() < 0.3)
                tip = centres[lobe] + rng.uniform(-0.75, 0.75, 3) * extents[lobe]
                radius = rng.uniform(2.5, r0)
                self._vessel(root, tip, radius, tissue)
                for _ in range(int(rng.integers(1, 4))):
                    start = root + rng.uniform(0.3, 0.8) * (tip - root)
                    end = start + rng.normal(0, 30, 3)
                    self._vessel(start, end, radius * rng.uniform(0.4, 0.7), tissue)
        return {"liver_center_mm": right_c, "liver_radii_mm": right_r, "hilum": hilum}

    def _vessel(self, start: np.ndarray, end: np.ndarray, radius: float, tissue: Tissue) -> None:
        g = self.grid
        box = g.box(tuple(np.minimum(start, end) - radius), tuple(np.maximum(start, end) + radius))
        if box is None:
            return
        d = tube_distance(g.axes(box), start, end)
        self.paint(box, d < radius, tissue, only_on=LIVER_TISSUES)

    def gallbladder(self, liver_info: dict) -> None:
        g, rng = self.grid, self.rng
        state = rng.choice(["normal", "contracted", "removed"], p=[0.72, 0.18, 0.1])
        if state == "removed":
            return
        rc, rr = liver_info["liver_center_mm"], liver_info["liver_radii_mm"]
        c = (rc[0] - 0.3 * rr[0], rc[1] + 0.45 * rr[1], rc[2] - 0.55 * rr[2])
        radii = np.array([rng.uniform(12, 18), rng.uniform(14, 20), rng.uniform(28, 40)])
        if state == "contracted":
            radii = radii * rng.uniform(0.4, 0.6)
        box = g.box_around(c, tuple(r + 3 for r in radii))
        if box is None:
            return
        axes = g.axes(box)
        q = ellipsoid_q(axes, c, tuple(radii), rng.uniform(-30, 30))
        self.paint(box, (q < 1) & self.cavity(axes), Tissue.GALLBLADDER)

    def spleen(self) -> None:
        g, lay, rng = self.grid, self.lay, self.rng
        s = lay.scale * lay.spleen_scale
        c = (-0.55 * lay.a, -0.3 * lay.b + 10 * (s - 1), rng.uniform(0.6, 0.68) * lay.height)
        radii = (24 * s, 55 * s, 48 * s)
        box = g.box_around(c, (60 * s, 60 * s, 55 * s))
        if box is None:
            return
        axes = g.axes(box)
        yaw = rng.uniform(-50, -30)
        q = ellipsoid_q(axes, c, radii, yaw) + Wobble(rng, 0.12)(axes)
        hollow = ellipsoid_q(axes, (c[0] + 30 * s, c[1] + 10 * s, c[2]), (22 * s, 40 * s, 40 * s), yaw) < 1
        spleen = (q < 1) & ~hollow & self.cavity(axes) & (axes[2] < self.dome_z(axes[0], axes[1]) - 5)
        self.paint(box, spleen, Tissue.SPLEEN)
        self.spleen_box = box

    def pancreas(self) -> None:
        g, lay, rng = self.grid, self.lay, self.rng
        c = (-0.05 * lay.a, -lay.b + 110 * lay.scale, rng.uniform(0.48, 0.54) * lay.height)
        radii = (70 * lay.scale, 12.0, 15.0)
        box = g.box_around(c, (80, 30, 25))
        if box is None:
            return
        axes = g.axes(box)
        q = ellipsoid_q(axes, c, radii, rng.uniform(-25, -10)) + Wobble(rng, 0.25, (15, 40))(axes)
        self.paint(box, (q < 1) & self.cavity(axes), Tissue.PANCREAS)

    def kidneys(self) -> None:
        g, lay, rng = self.grid, self.lay, self.rng
        s = lay.scale
        for side, zf in ((1, rng.uniform(0.28, 0.34)), (-1, rng.uniform(0.32, 0.4))):
            c = (side * 0.42 * lay.a, -0.92 * lay.b + 62, zf * lay.height)
            radii = (26 * s, 21 * s, 52 * s * rng.uniform(0.9, 1.1))
            yaw = side * rng.uniform(20, 35)
            box = g.box_around(c, (60, 60, radii[2] + 5))
            if box is None:
                continue
            axes = g.axes(box)
            q = ellipsoid_q(axes, c, radii, yaw) + Wobble(rng, 0.08)(axes)
            self.paint(box, q < 1, Tissue.KIDNEY)
            # Medulla: the inner part of the parenchyma, lobulated like the pyramids.
            medulla = (q < rng.uniform(0.5, 0.65) + Wobble(rng, 0.12, (8, 16), 5)(axes)) & (q < 1)
            self.paint(box, medulla, Tissue.KIDNEY_MEDULLA)
            sinus_c = (c[0] - side * 10 * s, c[1] + 5, c[2])
            sinus = ellipsoid_q(axes, sinus_c, (11 * s, 9 * s, 28 * s), yaw) < 1
            self.paint(box, sinus & (q < 1), Tissue.RENAL_SINUS)

    def vessels(self) -> None:
        g, lay = self.grid, self.lay
        box = g.box(
            (-g.shape[0] * g.spacing[0], -g.shape[1] * g.spacing[1], 0),
            (g.shape[0] * g.spacing[0], g.shape[1] * g.spacing[1], self.z_top),
        )
        if box is None:
            return
        x, y, z = g.axes(box)
        vb_y = -0.92 * lay.b + 55
        aorta_r = 11.5 * self.rng.uniform(0.85, 1.2)
        aorta = ((x + 14) ** 2 + (y - (vb_y + 32)) ** 2) < aorta_r**2
        # The IVC runs up behind the liver into the right atrium, just above the right dome.
        ivc = (((x - self.ivc_xy[0]) / 13) ** 2 + ((y - self.ivc_xy[1]) / 9.5) ** 2 < 1) & (
            z < self.dome_apex_r + 10
        )
        self.paint(
            box,
            aorta,
            Tissue.AORTA,
            only_on=tuple(t for t in Tissue if t not in (Tissue.HEART_LEFT, Tissue.HEART_RIGHT)),
        )
        self.paint(box, ivc, Tissue.IVC)

    def portal_vein(self, liver_info: dict) -> None:
        g, lay = self.grid, self.lay
        start = np.array([0.0, -0.92 * lay.b + 105, 0.46 * lay.height])
        end = np.asarray(liver_info["hilum"], dtype=np.float32)
        box = g.box(tuple(np.minimum(start, end) - 10), tuple(np.maximum(start, end) + 10))
        if box is None:
            return
        axes = g.axes(box)
        self.paint(box, tube_distance(axes, start, end) < 7, Tissue.PORTAL_VEIN)

    def muscles_and_spine(self) -> None:
        g, lay, rng = self.grid, self.lay, self.rng
        H = lay.height
        x, y, z = g.axes()
        vb_y = -0.92 * lay.b + 55
        canal_y = vb_y - 17 - 11
        inside_skin = self.body_r((x, y, z), 0.4 * lay.fat + 3) < 1
        # Psoas muscles grow toward the pelvis; paraspinal muscles lie either side of the spinous process.
        psoas_r = np.clip(6 + 22 * (1 - z / (0.55 * H)), 0, None)
        for side in (1, -1):
            psoas = ((x - side * 30) ** 2 + (y - vb_y) ** 2) < psoas_r**2
            self.tissue[psoas & (psoas_r > 0)] = Tissue.MUSCLE
            para = ((x - side * 30) / 24) ** 2 + ((y - (canal_y - 8)) / 19) ** 2 < 1
            self.tissue[para & inside_skin] = Tissue.MUSCLE
        # Vertebrae: 27 mm bodies, 7 mm discs, a random phase along z.
        period, phase = 34.0, rng.uniform(0, 34.0)
        in_disc = ((z + phase) % period) > period - 7
        body_q = (x / 21) ** 2 + ((y - vb_y) / 17) ** 2
        inner_q = (x / 18.5) ** 2 + ((y - vb_y) / 14.5) ** 2
        vertebra = (body_q < 1) & ~in_disc
        self.tissue[(body_q < 1) & in_disc] = Tissue.DISC
        self.tissue[vertebra & (inner_q >= 1)] = Tissue.BONE_CORTEX
        self.tissue[vertebra & (inner_q < 1)] = Tissue.BONE_CANCELLOUS
        canal_d2 = x**2 + (y - canal_y) ** 2
        arch = (canal_d2 < 16**2) & (canal_d2 >= 9**2) & (y < vb_y - 8)
        spinous = (np.abs(x) < 3.5) & (y < canal_y - 12) & (y > canal_y - 32) & inside_skin
        transverse = (np.abs(y - (canal_y + 4)) < 3.5) & (np.abs(x) < 36) & (((z + phase) % period) < 9)
        self.tissue[(arch | spinous | transverse) & ~in_disc] = Tissue.POSTERIOR_ELEMENTS
        self.tissue[np.broadcast_to(canal_d2 < 9**2, g.shape)] = Tissue.SPINAL_CANAL

    def ribs(self) -> None:
        g, lay, rng = self.grid, self.lay, self.rng
        H = lay.height
        box = g.box((-lay.a, -lay.b, 0.3 * H), (lay.a, lay.b, self.z_top))
        if box is None:
            return
        axes = g.axes(box)
        x, y, z = axes
        angle = np.arctan2(x, -y)  # 0 at the posterior midline, +-pi anteriorly
        frac = np.abs(angle) / np.pi
        # Ribs run obliquely: down from the spine to the front; the costal margin rises anteriorly.
        costal_margin = (0.38 + 0.38 * frac**2) * H
        period, phase = rng.uniform(24, 30), rng.uniform(0, 30)
        along = (z + 170 * frac + phase) % period
        rib_band = along < rng.uniform(8, 10)
        outer = self.body_r(axes, lay.fat + 1) < 1
        inner = self.body_r(axes, lay.fat + lay.wall + 7) < 1
        wall = outer & ~inner & (z > costal_margin) & (frac > 0.08) & (frac < 0.92)
        self.paint(
            box, wall & ~rib_band, Tissue.MUSCLE, only_on=(Tissue.VISCERAL_FAT, Tissue.MUSCLE, Tissue.LUNG)
        )
        self.paint(box, wall & rib_band, Tissue.RIB)

    # -- whole case ----------------------------------------------------------------------------------
    def ascites(self) -> None:
        """Free fluid (0-20 HU) around the liver and spleen, in the peritoneal fat: most cirrhotic livers."""
        lay, rng = self.lay, self.rng
        if not (lay.condition == "cirrhosis" and rng.random() < 0.7) and rng.random() > 0.04:
            return
        depth_mm = rng.uniform(4, 20)
        for box in (self.liver_box, getattr(self, "spleen_box", None)):
            if box is None:
                continue
            organ = np.isin(self.tissue[box], (*LIVER_TISSUES, Tissue.SPLEEN))
            if not organ.any():
                continue
            dist = ndimage.distance_transform_edt(~organ, sampling=self.grid.spacing)
            self.paint(box, (dist < depth_mm) & (dist > 0), Tissue.ASCITES, only_on=(Tissue.VISCERAL_FAT,))

    def metal(self, center: tuple[float, float, float]) -> None:
        """A small metal object (screw, clip or port) where the acquisition put its streaks."""
        radius = self.rng.uniform(2.0, 5.0)
        box = self.grid.box_around(center, (radius, radius, 3 * radius))
        if box is not None:
            q = ellipsoid_q(self.grid.axes(box), center, (radius, radius, 3 * radius))
            self.paint(box, q < 1, Tissue.METAL)

    def run(self) -> dict:
        lay = self.lay
        self.z_top = self.grid.origin[2] + self.grid.spacing[2] * self.grid.shape[2]
        self.dome_apex_r = self.rng.uniform(0.86, 1.0) * lay.height
        self.ivc_xy = (24.0, -0.92 * lay.b + 55 + 33)
        self.table()
        self.body()
        self.lungs_and_heart()
        self.bowel()
        info = self.liver()
        self.stomach()
        self.gallbladder(info)
        self.spleen()
        self.ascites()
        self.pancreas()
        self.kidneys()
        self.muscles_and_spine()
        self.vessels()
        self.portal_vein(info)
        self.ribs()
        self.textures()
        return info

    def textures(self) -> None:
        """Slow density variation inside organs, added where the final tissue map has them."""
        g, lay = self.grid, self.lay
        lung_box = g.box((-lay.a, -lay.b, 0.55 * lay.height), (lay.a, lay.b, self.z_top))
        cirrhotic = lay.condition == "cirrhosis"
        for box, tissue, amplitude, wavelengths in (
            (lung_box, Tissue.LUNG, 25.0, (5.0, 15.0)),
            (
                self.liver_box,
                Tissue.LIVER,
                10.0 if cirrhotic else 3.0,
                (5.0, 15.0) if cirrhotic else (15.0, 40.0),
            ),
            (getattr(self, "spleen_box", None), Tissue.SPLEEN, lay.spleen_heterogeneity + 2.0, (8.0, 25.0)),
        ):
            if box is None:
                continue
            field_ = Wobble(self.rng, amplitude, wavelengths, 6)(g.axes(box))
            mask = self.tissue[box] == tissue
            self.hu_extra[box][mask] += field_[mask]


def generate_phantom(
    rng: np.random.Generator,
    shape: tuple[int, int, int] | None = None,
    n_tumors: int | None = None,
    *,
    matrix: int = 512,
    phase: Phase | str | None = None,
    scan_range: str | None = None,
    slice_thickness_mm: float | None = None,
) -> PhantomCase:
    """Draw one abdominal CT case.

    Args:
        rng: the case's random generator (seed it per case for reproducible datasets).
        shape: (X, Y, Z) voxels; None draws a ``matrix`` x ``matrix`` grid with 0.6-0.9 mm pixels (at 512;
            proportionally larger for a smaller matrix) and a drawn slice thickness (0.625-5 mm).
            A given shape keeps the anatomy in mm and coarsens the voxels; it scans the whole abdomen
            unless ``scan_range`` says otherwise.
        n_tumors: number of lesions; None draws 0-8 (about one case in five has none).
        matrix: in-plane voxels when ``shape`` is None.
        phase: contrast phase (``liver3d.phantoms.contrast.Phase`` or its value); None draws one.
        scan_range: one of ``SCAN_RANGES``; None draws one (with ``shape`` given: "abdomen").
        slice_thickness_mm: None draws one (with ``shape`` given, the z spacing follows the shape).

    Returns:
        A :class:`PhantomCase` on a RAS grid (x right, y anterior, z superior).
    """
    if scan_range is None and shape is not None:
        scan_range = "abdomen"
    layout = _sample_layout(rng, phase, scan_range, slice_thickness_mm, anatomy_variants=shape is None)
    grid = _sample_grid(rng, layout, shape, matrix)
    if shape is not None:  # the slice profile follows the voxels the caller asked for
        layout.acquisition.slice_thickness_mm = float(grid.spacing[2])
    painter = _Painter(grid, rng, layout)
    painter.run()
    streaks, metal_at = streak_field(grid, layout.acquisition, rng, (0.0, -0.92 * layout.b + 55))
    streak_slices = slice(None)
    if metal_at is not None:
        painter.metal(metal_at)
        k = int(round((metal_at[2] - grid.origin[2]) / grid.spacing[2]))
        reach = int(np.ceil(12.0 / grid.spacing[2]))
        streak_slices = slice(max(k - reach, 0), max(k + reach + 1, 0))
    tissue = painter.tissue

    lut = np.zeros(len(Tissue), dtype=np.float32)
    for t, v in layout.hu.items():
        lut[t] = v
    hu = lut[tissue] + painter.hu_extra
    del painter.hu_extra
    label = np.isin(tissue, np.asarray(LIVER_TISSUES, dtype=np.uint8)).astype(np.uint8)

    if n_tumors is None:
        n_tumors = 0 if rng.random() < 0.2 else int(rng.integers(1, 9))
    vessels = np.isin(tissue, (Tissue.LIVER_VESSEL, Tissue.HEPATIC_VEIN))
    densities = {
        "liver": layout.hu[Tissue.LIVER],
        "aorta": layout.hu[Tissue.AORTA],
        "portal_vein": layout.hu[Tissue.PORTAL_VEIN],
    }
    lesions, lesion_mask = plant_lesions(grid, hu, label, vessels, densities, layout.phase, rng, n_tumors)
    tissue[lesion_mask] = Tissue.LESION

    body = ~np.isin(tissue, (Tissue.AIR, Tissue.TABLE, Tissue.TABLE_FOAM))
    apply_acquisition(hu, body, grid, layout.acquisition, rng, streaks, streak_slices)
    image = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)

    grid_mm = PatientGrid(grid.shape, grid.spacing, grid.origin)
    params = {
        "phase": layout.phase.value,
        "liver_condition": layout.condition,
        "scan_range": layout.scan_range,
        "oral_contrast": layout.oral_contrast,
        "body_half_width_mm": layout.a,
        "body_half_depth_mm": layout.b,
        "left_lobe_scale": list(layout.left_lobe_scale),
        "fov_fraction": layout.fov_fraction,
        "noise_sd_hu": layout.noise_sd,
        "liver_hu": layout.hu[Tissue.LIVER],
        "spleen_hu": layout.hu[Tissue.SPLEEN],
        "kidney_hu": layout.hu[Tissue.KIDNEY],
        "aorta_hu": layout.hu[Tissue.AORTA],
        "portal_vein_hu": layout.hu[Tissue.PORTAL_VEIN],
        "acquisition": layout.acquisition.as_dict(),
    }
    return PhantomCase(image=image, label=label, grid=grid_mm, tumors=lesions, params=params, tissue=tissue)
