"""Liver lesions whose appearance follows the contrast phase, planted into a phantom's HU volume.

Each lesion is an irregular ellipsoid (normalised radius ``rho``: 0 at the centre, 1 at the edge) whose
density pattern depends on its type and on the case's phase (HU relative to the case's own liver and blood
pool, so a fatty or cirrhotic liver shifts its lesions with it):

- ``metastasis`` (hypovascular): hypodense in every phase, most in portal venous (liver -30..-70 HU); an
  enhancing rim in arterial / portal venous phases; larger ones with a necrotic centre (5-25 HU).
- ``hcc``: arterial hyperenhancement (+30..80 HU, mosaic), washout in portal venous and delayed phases,
  an enhancing capsule in those phases.
- ``cyst``: 0-18 HU in every phase, a sharp edge, never enhancing.
- ``hemangioma``: near blood density unenhanced; peripheral nodular discontinuous enhancement at about the
  aorta's density in the arterial phase; centripetal fill-in following the blood pool in portal venous and
  delayed phases (small ones fill at once); large ones keep an unfilled central scar.
- ``lipiodol``: a chemo-embolized lesion, dense lipiodol deposits (300-1200 HU) over a necrotic remainder.
- ``ablation``: a hypodense (15-45 HU), non-enhancing ablation zone with a sharp edge and, early, a thin
  hyperaemic rim.

Sources: Radiopaedia ("Simple hepatic cyst", "Hepatic haemangioma", "Liver metastases"); LI-RADS CT/MRI
v2018 (arterial phase hyperenhancement, washout, capsule); Caseiro-Alves et al., AJR 2007 and the AJR 2010
multiphase MDCT study of hemangioma blood-pool enhancement (doi:10.2214/AJR.09.3324); the triple-phase CT
study of hypovascular metastases (PubMed 15044747); lipiodol retention after TACE, CVIR 1993 (PubMed 8402781);
ablation-zone follow-up imaging (Medscape, RFA of liver tumors; PMC5744668).

Every lesion is labelled tumor (2) where it lies inside the liver: the label map says "lesion", and each
lesion's type, size and phase are recorded in the case's parameters so results can be split by type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from liver3d.phantoms.contrast import Phase
from liver3d.phantoms.geometry import PatientGrid, Wobble, ellipsoid_q


class LesionType(str, Enum):
    METASTASIS = "metastasis"
    HCC = "hcc"
    CYST = "cyst"
    HEMANGIOMA = "hemangioma"
    LIPIODOL = "lipiodol"
    ABLATION = "ablation"


#: The case's main lesion type is drawn with these weights; a quarter of its lesions are of another type.
LESION_PROBABILITIES = {
    LesionType.METASTASIS: 0.42,
    LesionType.HCC: 0.22,
    LesionType.CYST: 0.12,
    LesionType.HEMANGIOMA: 0.1,
    LesionType.LIPIODOL: 0.07,
    LesionType.ABLATION: 0.07,
}
#: Soft edge half-width (mm) per type: cysts and ablation zones are sharp, metastases blur into the liver.
EDGE_MM = {
    LesionType.METASTASIS: (1.0, 3.0),
    LesionType.HCC: (0.8, 2.0),
    LesionType.CYST: (0.3, 0.6),
    LesionType.HEMANGIOMA: (0.8, 2.0),
    LesionType.LIPIODOL: (0.8, 2.0),
    LesionType.ABLATION: (0.5, 1.0),
}
DIAMETER_MM = (3.0, 110.0)


@dataclass
class Lesion:
    """One planted lesion: centre (patient mm), nominal radii (mm), type, mean HU of its core, labelled voxels."""

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


def _ring(rho: np.ndarray, at: float, width: float) -> np.ndarray:
    return np.exp(-(((rho - at) / width) ** 2))


def _step_below(rho: np.ndarray, edge: float, softness: float = 0.08) -> np.ndarray:
    """About 1 for rho < edge, 0 above, with a soft transition."""
    return np.clip((edge - rho) / softness + 0.5, 0.0, 1.0)


def lesion_density(
    kind: LesionType,
    phase: Phase,
    rho: np.ndarray,
    axes: tuple[np.ndarray, np.ndarray, np.ndarray],
    diameter_mm: float,
    hu: dict[str, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, float]:
    """HU inside one lesion (same shape as ``rho``) and its core's mean HU.

    ``hu`` holds the case's ``liver``, ``aorta``, ``portal_vein`` densities for this phase.
    """
    liver, aorta, portal = hu["liver"], hu["aorta"], hu["portal_vein"]
    texture = Wobble(rng, 1.0, (max(2.0, diameter_mm / 6), max(4.0, diameter_mm / 2)), 4)(axes)
    contrast = phase is not Phase.NON_CONTRAST
    if kind is LesionType.METASTASIS:
        drop = {Phase.NON_CONTRAST: (10, 30), Phase.ARTERIAL: (15, 40), Phase.PORTAL_VENOUS: (30, 70)}
        base = max(liver - rng.uniform(*drop.get(phase, (20, 50))), 5.0)
        value = base + 4.0 * texture
        if diameter_mm > 15 and rng.random() < 0.5:  # necrotic centre
            core = _step_below(rho, rng.uniform(0.3, 0.6), 0.15)
            value = value * (1 - core) + (rng.uniform(5, 25) + 3.0 * texture) * core
        if phase in (Phase.ARTERIAL, Phase.PORTAL_VENOUS) and rng.random() < 0.7:
            value = value + rng.uniform(15, 45) * _ring(rho, 0.85, 0.12)
    elif kind is LesionType.HCC:
        delta = {
            Phase.NON_CONTRAST: -rng.uniform(5, 15),
            Phase.ARTERIAL: rng.uniform(30, 80),
            Phase.PORTAL_VENOUS: -rng.uniform(8, 30),
            Phase.DELAYED: -rng.uniform(15, 35),
        }[phase]
        base = liver + delta
        mosaic = rng.uniform(8, 20) if phase is Phase.ARTERIAL else rng.uniform(3, 8)
        value = base + mosaic * texture
        if diameter_mm > 30 and rng.random() < 0.35:
            core = _step_below(rho, rng.uniform(0.2, 0.45), 0.15)
            value = value * (1 - core) + (rng.uniform(15, 35) + 3.0 * texture) * core
        if phase in (Phase.PORTAL_VENOUS, Phase.DELAYED) and rng.random() < 0.75:
            value = value + (liver + rng.uniform(10, 30) - base) * _ring(rho, 0.93, 0.06)
    elif kind is LesionType.CYST:
        base = rng.uniform(0, 18)
        value = base + 1.0 * texture
    elif kind is LesionType.HEMANGIOMA:
        base = rng.uniform(30, 45)
        value = np.full(rho.shape, base, dtype=np.float32) + 3.0 * texture
        blood = {Phase.ARTERIAL: aorta, Phase.PORTAL_VENOUS: portal, Phase.DELAYED: aorta}.get(phase)
        if blood is not None:
            if phase is Phase.ARTERIAL:  # peripheral, nodular, discontinuous
                nodules = (Wobble(rng, 1.0, (3.0, max(4.0, diameter_mm / 3)), 6)(axes) > 0.45) & (rho > 0.72)
                filled = nodules.astype(np.float32) * rng.uniform(0.6, 1.0)
            else:  # centripetal fill-in; small ones fill at once, large ones keep a central scar
                reach = 1.0 if diameter_mm < 15 else rng.uniform(0.45, 0.9)
                if phase is Phase.DELAYED:
                    reach = max(reach, rng.uniform(0.8, 1.0))
                filled = 1.0 - _step_below(rho, 1.0 - reach, 0.1)
                if diameter_mm > 60:
                    filled = filled * (1.0 - _step_below(rho, 0.22, 0.05))
            value = value + (blood * rng.uniform(0.85, 1.0) - base) * filled
    elif kind is LesionType.LIPIODOL:
        base = max(liver - rng.uniform(20, 50), 5.0)
        deposits = Wobble(rng, 1.0, (3.0, max(5.0, diameter_mm / 2)), 6)(axes) > rng.uniform(-0.6, 0.4)
        value = base + 4.0 * texture + deposits * (rng.uniform(300, 1200) - base)
    elif kind is LesionType.ABLATION:
        base = rng.uniform(15, 45)
        value = base + 2.0 * texture
        if contrast and phase is not Phase.DELAYED and rng.random() < 0.5:
            value = value + rng.uniform(20, 40) * _ring(rho, 0.95, 0.05)
    else:  # pragma: no cover - the enum is closed
        raise ValueError(kind)
    return np.asarray(value, dtype=np.float32), float(base)


def draw_lesion_types(rng: np.random.Generator, count: int) -> list[LesionType]:
    kinds = list(LESION_PROBABILITIES)
    p = np.array([LESION_PROBABILITIES[k] for k in kinds])
    main = kinds[int(rng.choice(len(kinds), p=p))]
    return [main if rng.random() < 0.75 else kinds[int(rng.choice(len(kinds), p=p))] for _ in range(count)]


def _center_candidates(liver: np.ndarray, vessel: np.ndarray) -> dict[str, np.ndarray]:
    """Flat indices of liver voxels: anywhere, on the surface, next to a vessel (in the local box)."""
    from scipy import ndimage

    inner = ndimage.binary_erosion(liver, iterations=1)
    surface = liver & ~inner
    near_vessel = liver & ndimage.binary_dilation(vessel, iterations=2) & ~vessel
    return {
        "anywhere": np.flatnonzero(liver),
        "surface": np.flatnonzero(surface),
        "vessel": np.flatnonzero(near_vessel),
    }


def plant_lesions(
    grid: PatientGrid,
    hu_volume: np.ndarray,
    label: np.ndarray,
    vessel_mask: np.ndarray,
    densities: dict[str, float],
    phase: Phase,
    rng: np.random.Generator,
    count: int,
    kinds: list[LesionType] | None = None,
    blend_weight: np.ndarray | None = None,
) -> tuple[list[Lesion], np.ndarray]:
    """Plant ``count`` lesions into ``hu_volume`` (in place) and mark them 2 in ``label``.

    ``blend_weight`` (float, the volume's shape), when given, receives each voxel's weight of lesion density
    against the background (0 untouched, 1 replaced): what a real background's noise must be restored over.

    Centres fall anywhere in the liver, on its surface (a fifth) or beside a vessel (a sixth); one in six
    lesions is confluent with the previous one. Sizes are log-uniform from about 3 mm (at least two voxels)
    to 110 mm. Returns the lesions and a boolean mask of the labelled lesion voxels.
    """
    lesion_mask = np.zeros(label.shape, dtype=bool)
    liver = label == 1
    if count == 0 or not liver.any():
        return [], lesion_mask
    kinds = kinds or draw_lesion_types(rng, count)
    candidates = _center_candidates(liver, vessel_mask & liver)
    min_d = max(DIAMETER_MM[0], 2.0 * max(grid.spacing))
    lesions: list[Lesion] = []
    for kind in kinds:
        for _attempt in range(25):
            diameter = float(np.exp(rng.uniform(np.log(min_d), np.log(DIAMETER_MM[1]))))
            if kind is LesionType.CYST:
                diameter = min(diameter, 80.0)
            radii = tuple(float(diameter / 2 * f) for f in rng.uniform(0.8, 1.2, 3))
            where = rng.choice(["anywhere", "surface", "vessel"], p=[0.63, 0.2, 0.17])
            confluent = bool(lesions) and rng.random() < 1 / 6
            if confluent:
                prev = lesions[-1]
                direction = rng.normal(size=3)
                direction /= np.linalg.norm(direction)
                gap = 0.75 * (max(prev.radii_mm) + max(radii))
                center = tuple(float(c + gap * d) for c, d in zip(prev.center_mm, direction))
            else:
                pool = candidates[where] if candidates[where].size else candidates["anywhere"]
                vox = np.unravel_index(pool[rng.integers(pool.size)], grid.shape)
                center = tuple(float(o + i * s) for o, i, s in zip(grid.origin, vox, grid.spacing))
                if any(
                    np.linalg.norm(np.subtract(center, t.center_mm)) < (max(radii) + max(t.radii_mm))
                    for t in lesions
                ):
                    continue
            edge = float(rng.uniform(*EDGE_MM[kind]))
            box = grid.box_around(center, tuple(r + edge + 2 for r in radii))
            if box is None:
                continue
            axes = grid.axes(box)
            q = ellipsoid_q(axes, center, radii, rng.uniform(0, 180))
            bumps = 0.04 if kind is LesionType.CYST else 0.14
            q = q * (1 + Wobble(rng, bumps, (max(radii), 3 * max(radii) + 1), 4)(axes))
            inside = q < 1
            in_liver = liver[box]
            n_inside = int(inside.sum())
            needed = 0.4 if where == "surface" or confluent else 0.7
            if n_inside == 0 or (inside & in_liver).sum() < needed * n_inside:
                continue
            rho = np.sqrt(np.maximum(q, 0))
            weight = np.clip(0.5 + (1 - rho) * np.mean(radii) / edge, 0, 1)
            value, core_hu = lesion_density(kind, phase, rho, axes, diameter, densities, rng)
            view = hu_volume[box]
            view[in_liver] = (view * (1 - weight) + value * weight)[in_liver]
            if blend_weight is not None:
                blended = blend_weight[box]
                blended[in_liver] = np.maximum(blended, weight)[in_liver]
            labelled = inside & in_liver & ~lesion_mask[box]
            label[box][labelled] = 2
            lesion_mask[box] |= labelled
            voxels = int(labelled.sum())
            lesions.append(
                Lesion(
                    center, radii, core_hu, kind.value, voxels, voxels * float(np.prod(grid.spacing)) / 1e3
                )
            )
            break
    return lesions, lesion_mask
