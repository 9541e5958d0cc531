"""Abdominal CT phantoms: a painted tissue map, turned into Hounsfield units with blur and CT-like noise.

Each case draws its own body size, organ shapes and positions, liver and organ densities, tumors, voxel
spacing and noise level from one ``numpy.random.Generator``, so a (seed, case) pair gives the same
volume on every machine. Tissues are painted in anatomical order (later ones cover earlier ones); the
label map is read off the final tissue map, so whatever covers the liver (vessels at the hilum, the
gallbladder, kidneys) is not labelled liver.

Densities follow a non-contrast abdominal CT: fat about -100 HU, muscle and soft tissue 40-60, liver
50-70, spleen and kidneys within about 15 HU of the liver, hypodense tumors 10-40 with soft edges,
bone 300-1000, lung bases about -850.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from scipy import ndimage

from liver3d.phantoms.geometry import Box, PatientGrid, Wobble, ellipsoid_q, smooth_union, tube_distance


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


LIVER_TISSUES = (Tissue.LIVER, Tissue.LIVER_VESSEL)

SLICE_THICKNESSES_MM = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)
ORIENTATIONS = ("RAS", "LPS", "LAS")


@dataclass
class Tumor:
    """One planted tumor: centre in patient mm, nominal radii (mm), density (HU) and what was labelled."""

    center_mm: tuple[float, float, float]
    radii_mm: tuple[float, float, float]
    hu: float
    pattern: str
    voxels: int = 0
    volume_ml: float = 0.0

    @property
    def equivalent_diameter_mm(self) -> float:
        """Diameter of the sphere with the labelled volume."""
        return float((6.0 * self.volume_ml * 1000.0 / np.pi) ** (1.0 / 3.0)) if self.volume_ml else 0.0


@dataclass
class PhantomCase:
    """A generated case on a RAS voxel grid: ``image`` int16 HU and ``label`` uint8, both (X, Y, Z)."""

    image: np.ndarray
    label: np.ndarray
    grid: PatientGrid
    tumors: list[Tumor]
    params: dict = field(default_factory=dict)

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
    height: float  # scanned range, inferior-superior
    fat: float  # subcutaneous fat thickness
    wall: float  # abdominal wall muscle thickness
    scale: float  # organ size factor
    hu: dict[Tissue, float]
    noise_sd: float


def _sample_hu(rng: np.random.Generator) -> dict[Tissue, float]:
    liver = rng.uniform(52, 68)
    blood = rng.uniform(38, 50)
    hu = {
        Tissue.AIR: -1000.0,
        Tissue.TABLE: rng.uniform(150, 300),
        Tissue.TABLE_FOAM: rng.uniform(-700, -500),
        Tissue.SKIN: rng.uniform(25, 45),
        Tissue.FAT: rng.uniform(-110, -90),
        Tissue.MUSCLE: rng.uniform(45, 58),
        Tissue.VISCERAL_FAT: rng.uniform(-105, -85),
        Tissue.LUNG: rng.uniform(-870, -830),
        Tissue.HEART: blood,
        Tissue.DIAPHRAGM: rng.uniform(45, 55),
        Tissue.BOWEL_WALL: rng.uniform(35, 50),
        Tissue.BOWEL_CONTENT: rng.uniform(10, 35),
        Tissue.GAS: -1000.0,
        Tissue.STOMACH_WALL: rng.uniform(40, 50),
        Tissue.STOMACH_FLUID: rng.uniform(0, 20),
        Tissue.LIVER: liver,
        Tissue.LIVER_VESSEL: blood - rng.uniform(0, 8),
        Tissue.GALLBLADDER: rng.uniform(0, 20),
        Tissue.SPLEEN: liver + rng.uniform(-12, 3),
        Tissue.PANCREAS: rng.uniform(35, 48),
        Tissue.KIDNEY: liver + rng.uniform(-15, 0),
        Tissue.RENAL_SINUS: rng.uniform(-70, -40),
        Tissue.AORTA: blood,
        Tissue.IVC: blood,
        Tissue.PORTAL_VEIN: blood,
        Tissue.BONE_CANCELLOUS: rng.uniform(280, 360),
        Tissue.BONE_CORTEX: rng.uniform(750, 1000),
        Tissue.POSTERIOR_ELEMENTS: rng.uniform(450, 650),
        Tissue.SPINAL_CANAL: rng.uniform(15, 30),
        Tissue.DISC: rng.uniform(70, 100),
        Tissue.RIB: rng.uniform(400, 700),
    }
    return hu


def _sample_grid(
    rng: np.random.Generator, layout: _Layout, shape: tuple[int, int, int] | None
) -> PatientGrid:
    margin = rng.uniform(20, 50)
    needed_x = 2 * layout.a + margin
    needed_y = 2 * layout.b + margin + 40  # room for the table under the patient
    if shape is None:
        nx = ny = 512
        pixel = rng.uniform(0.6, 0.9)
        pixel = max(pixel, needed_x / nx, needed_y / ny)
        thickness = float(rng.choice(SLICE_THICKNESSES_MM, p=(0.1, 0.1, 0.1, 0.15, 0.2, 0.2, 0.15)))
        nz = int(round(layout.height / thickness))
    else:
        nx, ny, nz = (int(n) for n in shape)
        pixel = max(needed_x / nx, needed_y / ny)
        thickness = layout.height / nz
    spacing = (float(pixel), float(pixel), float(thickness))
    # The patient is a little off the scanner's centre, as on a real table.
    origin = (
        -(nx - 1) / 2 * pixel + rng.uniform(-0.03, 0.03) * nx * pixel,
        -(ny - 1) / 2 * pixel + 20 + rng.uniform(-0.02, 0.02) * ny * pixel,
        0.0,
    )
    return PatientGrid((nx, ny, nz), spacing, origin)


def _sample_layout(rng: np.random.Generator) -> _Layout:
    a = rng.uniform(135, 170)
    return _Layout(
        a=a,
        b=a * rng.uniform(0.68, 0.8),
        height=rng.uniform(200, 250),
        fat=rng.uniform(8, 35),
        wall=rng.uniform(8, 13),
        scale=rng.uniform(0.85, 1.12),
        hu=_sample_hu(rng),
        noise_sd=rng.uniform(10, 20),
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
        g, lay = self.grid, self.lay
        H = lay.height
        box = g.box((-lay.a, -lay.b, 0.55 * H), (lay.a, lay.b, H))
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
        heart = ellipsoid_q(axes, (-0.15 * lay.a, 0.3 * lay.b, self.dome_apex_r + 35), (70, 55, 55)) < 1
        self.paint(box, heart & (z > dome - 5) & cav, Tissue.HEART)

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
            self.paint(box, inner, Tissue.BOWEL_CONTENT)
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
        self.paint(box, inner & cav, Tissue.STOMACH_FLUID)
        level = c[1] + rng.uniform(0.0, 0.6) * radii[1]
        self.paint(box, inner & cav & (axes[1] > level), Tissue.GAS)

    def liver(self) -> dict:
        g, lay, rng = self.grid, self.lay, self.rng
        H, s = lay.height, lay.scale
        zc = rng.uniform(0.56, 0.64) * H
        right_c = (0.4 * lay.a + rng.uniform(-10, 10), -0.05 * lay.b + rng.uniform(-10, 10), zc)
        right_r = tuple(np.array([0.42 * lay.a, 0.64 * lay.b, 0.3 * H]) * s * rng.uniform(0.9, 1.1, 3))
        left_c = (-0.04 * lay.a + rng.uniform(-15, 10), 0.36 * lay.b + rng.uniform(-8, 8), zc + 0.08 * H)
        left_r = tuple(np.array([0.33 * lay.a, 0.26 * lay.b, 0.13 * H]) * s * rng.uniform(0.75, 1.25, 3))
        lo = np.minimum(np.subtract(right_c, right_r), np.subtract(left_c, left_r)) - 10
        hi = np.maximum(np.add(right_c, right_r), np.add(left_c, left_r)) + 10
        box = g.box(tuple(lo), tuple(hi))
        if box is None:
            raise ValueError("the liver falls outside the grid; the scan range is too small")
        axes = g.axes(box)
        q = smooth_union(
            ellipsoid_q(axes, right_c, right_r, rng.uniform(-10, 10)),
            ellipsoid_q(axes, left_c, left_r, rng.uniform(-20, 5)),
        )
        q = q + Wobble(rng, 0.18, (50, 140))(axes)
        if rng.random() < 0.3:  # a Riedel-like inferior extension of the right lobe
            tip_c = (right_c[0] + 0.3 * right_r[0], right_c[1], zc - 0.7 * right_r[2])
            q = smooth_union(
                q, ellipsoid_q(axes, tip_c, (0.35 * right_r[0], 0.4 * right_r[1], 0.45 * right_r[2]))
            )
        liver = (q < 1) & self.cavity(axes) & (axes[2] < self.dome_z(axes[0], axes[1]) - 5)
        self.paint(box, liver, Tissue.LIVER)
        self.liver_box = box
        # Intrahepatic vessels radiate from the hilum (portal) and converge on the IVC (hepatic veins).
        hilum = np.array(
            [right_c[0] - 0.35 * right_r[0], right_c[1] - 0.1 * right_r[1], zc - 0.15 * right_r[2]]
        )
        ivc_top = np.array([self.ivc_xy[0], self.ivc_xy[1], zc + 0.6 * right_r[2]])
        for root in (hilum, ivc_top):
            for _ in range(int(rng.integers(3, 6))):
                tip = np.array(right_c) + rng.uniform(-0.7, 0.7, 3) * np.array(right_r)
                radius = rng.uniform(2.0, 5.0)
                tube_box = g.box(tuple(np.minimum(root, tip) - radius), tuple(np.maximum(root, tip) + radius))
                if tube_box is None:
                    continue
                d = tube_distance(g.axes(tube_box), root, tip)
                self.paint(tube_box, d < radius, Tissue.LIVER_VESSEL, only_on=(Tissue.LIVER,))
        return {"liver_center_mm": right_c, "liver_radii_mm": right_r, "hilum": hilum}

    def gallbladder(self, liver_info: dict) -> None:
        g, rng = self.grid, self.rng
        rc, rr = liver_info["liver_center_mm"], liver_info["liver_radii_mm"]
        c = (rc[0] - 0.3 * rr[0], rc[1] + 0.45 * rr[1], rc[2] - 0.55 * rr[2])
        radii = (rng.uniform(12, 18), rng.uniform(14, 20), rng.uniform(28, 40))
        box = g.box_around(c, tuple(r + 3 for r in radii))
        if box is None:
            return
        axes = g.axes(box)
        q = ellipsoid_q(axes, c, radii, rng.uniform(-30, 30))
        self.paint(box, (q < 1) & self.cavity(axes), Tissue.GALLBLADDER)

    def spleen(self) -> None:
        g, lay, rng = self.grid, self.lay, self.rng
        s = lay.scale * rng.uniform(0.8, 1.2)
        c = (-0.55 * lay.a, -0.3 * lay.b, rng.uniform(0.6, 0.68) * lay.height)
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
            sinus_c = (c[0] - side * 10 * s, c[1] + 5, c[2])
            sinus = ellipsoid_q(axes, sinus_c, (11 * s, 9 * s, 28 * s), yaw) < 1
            self.paint(box, sinus & (q < 1), Tissue.RENAL_SINUS)

    def vessels(self) -> None:
        g, lay = self.grid, self.lay
        box = g.box(
            (-g.shape[0] * g.spacing[0], -g.shape[1] * g.spacing[1], 0),
            (g.shape[0] * g.spacing[0], g.shape[1] * g.spacing[1], 0.88 * lay.height),
        )
        if box is None:
            return
        x, y, _ = g.axes(box)
        vb_y = -0.92 * lay.b + 55
        aorta = ((x + 14) ** 2 + (y - (vb_y + 32)) ** 2) < 11.5**2
        ivc = ((x - self.ivc_xy[0]) / 13) ** 2 + ((y - self.ivc_xy[1]) / 9.5) ** 2 < 1
        self.paint(box, aorta, Tissue.AORTA)
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
        box = g.box((-lay.a, -lay.b, 0.3 * H), (lay.a, lay.b, H))
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
    def run(self) -> dict:
        lay = self.lay
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
        lung_box = g.box((-lay.a, -lay.b, 0.55 * lay.height), (lay.a, lay.b, lay.height))
        for box, tissue, amplitude, wavelengths in (
            (lung_box, Tissue.LUNG, 25.0, (5.0, 15.0)),
            (self.liver_box, Tissue.LIVER, 3.0, (15.0, 40.0)),
        ):
            if box is None:
                continue
            field_ = Wobble(self.rng, amplitude, wavelengths, 6)(g.axes(box))
            mask = self.tissue[box] == tissue
            self.hu_extra[box][mask] += field_[mask]


def _plant_tumors(
    painter: _Painter, hu: np.ndarray, label: np.ndarray, rng: np.random.Generator, count: int
) -> list[Tumor]:
    """Plant ``count`` hypodense tumors (5-60 mm) inside the liver; soft edges, labelled where q < 1."""
    g = painter.grid
    liver_idx = np.flatnonzero(label == 1)
    if liver_idx.size == 0 or count == 0:
        return []
    min_d = max(5.0, 2.5 * max(g.spacing))
    tumors: list[Tumor] = []
    for _ in range(count):
        for _attempt in range(20):
            diameter = float(np.exp(rng.uniform(np.log(min_d), np.log(60.0))))
            center_vox = np.unravel_index(liver_idx[rng.integers(liver_idx.size)], g.shape)
            center = tuple(float(o + i * s) for o, i, s in zip(g.origin, center_vox, g.spacing))
            radii = tuple(float(diameter / 2 * f) for f in rng.uniform(0.85, 1.15, 3))
            if any(
                np.linalg.norm(np.subtract(center, t.center_mm)) < (max(radii) + max(t.radii_mm))
                for t in tumors
            ):
                continue
            edge = rng.uniform(1.5, 4.0)
            box = g.box_around(center, tuple(r + edge + 2 for r in radii))
            if box is None:
                continue
            axes = g.axes(box)
            q = ellipsoid_q(axes, center, radii, rng.uniform(0, 180))
            q = q * (1 + Wobble(rng, 0.12, (max(radii), 3 * max(radii) + 1), 4)(axes))
            inside = q < 1
            in_liver = label[box] == 1
            n_inside = int(inside.sum())
            if n_inside == 0 or (inside & in_liver).sum() < 0.8 * n_inside:
                continue
            rho = np.sqrt(np.maximum(q, 0))
            weight = np.clip(0.5 + (1 - rho) * np.mean(radii) / edge, 0, 1)
            tumor_hu = float(rng.uniform(10, 40))
            pattern = str(rng.choice(["homogeneous", "necrotic", "rim"], p=[0.5, 0.25, 0.25]))
            value = np.full(q.shape, tumor_hu, dtype=np.float32)
            if pattern == "necrotic":
                value -= 15 * np.clip(1 - rho / 0.55, 0, 1)
            elif pattern == "rim":
                value += 18 * np.exp(-(((rho - 0.85) / 0.12) ** 2))
            value += Wobble(rng, 4.0, (4, 12), 4)(axes)
            view = hu[box]
            view[in_liver] = (view * (1 - weight) + value * weight)[in_liver]
            labelled = inside & in_liver
            label[box][labelled] = 2
            voxels = int(labelled.sum())
            tumors.append(
                Tumor(center, radii, tumor_hu, pattern, voxels, voxels * float(np.prod(g.spacing)) / 1000.0)
            )
            break
    return tumors


def generate_phantom(
    rng: np.random.Generator,
    shape: tuple[int, int, int] | None = None,
    n_tumors: int | None = None,
) -> PhantomCase:
    """Draw one abdominal CT case.

    Args:
        rng: the case's random generator (seed it per case for reproducible datasets).
        shape: (X, Y, Z) voxels; None draws a 512x512 matrix, 0.6-0.9 mm pixels and 1-5 mm slices.
            A smaller shape keeps the anatomy in mm and coarsens the voxels.
        n_tumors: number of tumors; None draws 0-6 (about one case in four has none).

    Returns:
        A :class:`PhantomCase` on a RAS grid (x right, y anterior, z superior).
    """
    layout = _sample_layout(rng)
    grid = _sample_grid(rng, layout, shape)
    painter = _Painter(grid, rng, layout)
    painter.run()
    tissue = painter.tissue

    lut = np.zeros(len(Tissue), dtype=np.float32)
    for t, v in layout.hu.items():
        lut[t] = v
    hu = lut[tissue] + painter.hu_extra
    del painter.hu_extra
    label = np.isin(tissue, np.asarray(LIVER_TISSUES, dtype=np.uint8)).astype(np.uint8)

    if n_tumors is None:
        n_tumors = 0 if rng.random() < 0.25 else int(rng.integers(1, 7))
    tumors = _plant_tumors(painter, hu, label, rng, n_tumors)

    # Partial volume (about 0.5 mm in-plane, a fraction of a slice along z), then CT-like correlated noise.
    sx, sy, sz = grid.spacing
    ndimage.gaussian_filter(hu, sigma=(max(0.5 / sx, 0.5), max(0.5 / sy, 0.5), 0.4), output=hu)
    noise = rng.standard_normal(grid.shape, dtype=np.float32)
    ndimage.gaussian_filter(noise, sigma=(0.7, 0.7, 0.0), output=noise)
    noise *= layout.noise_sd / float(noise[::7, ::7, ::3].std() or 1.0)
    hu += noise
    del noise
    image = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)

    grid_mm = PatientGrid(grid.shape, grid.spacing, grid.origin)
    params = {
        "body_half_width_mm": layout.a,
        "body_half_depth_mm": layout.b,
        "noise_sd_hu": layout.noise_sd,
        "liver_hu": layout.hu[Tissue.LIVER],
        "spleen_hu": layout.hu[Tissue.SPLEEN],
        "kidney_hu": layout.hu[Tissue.KIDNEY],
    }
    return PhantomCase(image=image, label=label, grid=grid_mm, tumors=tumors, params=params)
