"""Another contrast phase for a real CT: the tissues whose density depends on the phase moved to the target
phase's densities, so one real scan trains the model in every phase.

A real CT is one phase, and its anatomy then teaches a model only that phase's densities. With the scan's
full TotalSegmentator label map (v2 ``total`` task class ids, :data:`TOTALSEGMENTATOR_TISSUES`), each tissue
whose density the phase sets gets one additive shift: the target phase's density, drawn from the phase table
of :mod:`liver3d.phantoms.contrast` (its sources are cited there), minus the tissue's median on the scan.

- An additive shift keeps the scan's noise, texture and partial volumes inside the tissue.
- On the tissue's outer voxel layer the shift is scaled by how far the voxel lies from fat (-100 HU) toward
  the tissue's median (its partial volume). An enhanced tissue also moves the voxel layer just outside its
  mask (where that is unlabelled or liver), by the voxel's share between what surrounds it (soft tissue or
  the liver) and the tissue, so a mask that is slightly too tight leaves no bright ring.
- Inside the liver the enhanced vessels (voxels far above the parenchyma, as :func:`.planting.plant_variant`
  finds them) move to the target phase's hepatic vessel density; between parenchyma and vessel the shift
  ramps with HU, so a vessel's partial-volume edge stays a smooth edge.

Muscle is left as it is: it enhances by a few HU only, and the table's muscle densities are those of lean
muscle, not of a patient's (often fat-infiltrated) muscle. Not modelled: vessels TotalSegmentator does not label (mesenteric, renal, hepatic arteries) keep their
density; the spleen stays homogeneous in the arterial phase, the kidney has one density (its cortex and
medulla are one label) and the bowel wall keeps its enhancement. A real scan changed this way is still that
one patient: training data, never validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from liver3d.phantoms.contrast import Phase, draw_phase_densities

#: TotalSegmentator v2 (``total`` task) class ids of the phase-dependent tissues, by target density name.
TOTALSEGMENTATOR_TISSUES: dict[str, tuple[int, ...]] = {
    "spleen": (1,),
    "kidney": (2, 3),
    "pancreas": (7,),
    "heart": (51, 61),  # heart, left atrial appendage
    "aorta": (52, 54, 55, 56, 57, 58, 65, 66),  # aorta and the arteries labelled beside it
    "ivc": (59, 60, 62, 63, 67, 68),  # venae cavae, brachiocephalic and iliac veins
    "portal_vein": (64,),  # portal and splenic vein
}
FAT_HU = -100.0  # the partial-volume reference of a tissue's outer voxel layer
SOFT_TISSUE_HU = 40.0  # what lies around a vessel or organ where the label map says nothing
SHELL_MIN_CONTRAST_HU = (
    30.0  # a tissue this far above what surrounds it (soft tissue or liver) also moves the
)
# voxel layer just outside its mask, where a label map that is slightly too tight leaves a bright edge
MIN_VOXELS = 50  # a tissue with fewer voxels in the scan is left as it is


def labels_phase_tissues(label_map: np.ndarray) -> bool:
    """Whether ``label_map`` labels any phase-dependent tissue besides the liver (TotalSegmentator ids)."""
    return bool(np.isin(label_map, [i for ids in TOTALSEGMENTATOR_TISSUES.values() for i in ids]).any())


def target_densities(rng: np.random.Generator, phase: Phase) -> dict[str, float]:
    """One draw of the target phase's density for every tissue this module moves (``liver_vessels`` too)."""
    d = draw_phase_densities(rng, phase)
    return {
        "liver": d["liver"],
        "liver_vessels": (d["portal_vein"] + d["hepatic_vein"]) / 2,
        "spleen": d["spleen"],
        "kidney": (d["renal_cortex"] + d["renal_medulla"]) / 2,
        "pancreas": d["pancreas"],
        "heart": (d["heart_left"] + d["heart_right"] + d["myocardium"]) / 3,
        "aorta": d["aorta"],
        "ivc": d["ivc"],
        "portal_vein": d["portal_vein"],
    }


@dataclass(frozen=True)
class TissueShift:
    """One tissue moved to the target phase: its median before and the target density (HU)."""

    tissue: str
    voxels: int
    median_hu: float
    target_hu: float


def _partial_volume_weight(hu: np.ndarray, mask: np.ndarray, median: float) -> np.ndarray:
    """1 inside the tissue; on its outer voxel layer the voxel's share between fat and the tissue."""
    weight = np.ones(hu.shape, np.float32)
    rim = mask & ~ndimage.binary_erosion(mask)
    span = max(median - FAT_HU, 1.0)
    weight[rim] = np.clip((hu[rim] - FAT_HU) / span, 0.0, 1.0)
    return weight


def _tissue_median(hu: np.ndarray, mask: np.ndarray) -> float:
    core = ndimage.binary_erosion(mask)
    return float(np.median(hu[core] if core.sum() >= MIN_VOXELS else hu[mask]))


def change_phase(
    hu: np.ndarray,
    label_map: np.ndarray,
    liver: np.ndarray,
    noise_sd_hu: float,
    targets: dict[str, float],
) -> tuple[np.ndarray, list[TissueShift]]:
    """The CT ``hu`` with every labelled phase-dependent tissue moved to ``targets``; the shifts applied.

    ``label_map`` is the TotalSegmentator map on ``hu``'s grid, ``liver`` the liver mask (the map's liver
    value), ``noise_sd_hu`` the scan's noise SD in the liver (it sets where a vessel starts).
    """
    shift = np.zeros(hu.shape, np.float32)
    parenchyma = liver & (hu < np.median(hu[liver]) + 4 * noise_sd_hu + 20)
    liver_median = _tissue_median(hu, parenchyma)
    liver_shift = np.full(hu.shape, targets["liver"] - liver_median, np.float32)
    shifts = [TissueShift("liver", int(parenchyma.sum()), liver_median, targets["liver"])]
    vessels = liver & ~parenchyma
    if vessels.sum() >= MIN_VOXELS:
        vessel_median = float(np.median(hu[vessels]))
        start = liver_median + 2 * noise_sd_hu
        ramp = np.clip((hu - start) / max(vessel_median - start, 1.0), 0.0, 1.0)
        liver_shift += ramp * ((targets["liver_vessels"] - vessel_median) - (targets["liver"] - liver_median))
        shifts.append(
            TissueShift("liver_vessels", int(vessels.sum()), vessel_median, targets["liver_vessels"])
        )
    shift[liver] = (_partial_volume_weight(hu, liver, liver_median) * liver_shift)[liver]
    # the voxels a tissue's mask leaves out at its edge: unlabelled or liver, and still partly the tissue
    open_ground = (label_map == 0) | liver
    for tissue, ids in TOTALSEGMENTATOR_TISSUES.items():
        mask = np.isin(label_map, ids) & ~liver
        if mask.sum() < MIN_VOXELS:
            continue
        median = _tissue_median(hu, mask)
        tissue_shift = targets[tissue] - median
        shift[mask] = (_partial_volume_weight(hu, mask, median) * tissue_shift)[mask]
        shell = ndimage.binary_dilation(mask) & ~mask & open_ground
        ground = np.where(liver[shell], liver_median, SOFT_TISSUE_HU)
        contrast = median - ground  # a tissue this much brighter than its surroundings leaves a bright edge
        share = np.where(
            contrast > SHELL_MIN_CONTRAST_HU,
            np.clip((hu[shell] - ground) / np.maximum(contrast, 1.0), 0.0, 1.0),
            0.0,
        )
        shift[shell] = share * tissue_shift + (1 - share) * shift[shell]
        shifts.append(TissueShift(tissue, int(mask.sum()), median, targets[tissue]))
    return hu.astype(np.float32) + shift, shifts
