"""Synthetic lesions planted in a real CT: training cases with real anatomy, texture and noise around them.

Hu et al. (CVPR 2023, "Label-free liver tumor segmentation") train tumor models on real livers with
synthetic tumors. Here the lesions are the phantoms' own (:func:`~liver3d.phantoms.lesions.plant_lesions`:
every type, size and place, with the appearance of the CT's contrast phase), planted into the liver of a real
CT given its liver mask (for example a TotalSegmentator output, where liver = 5):

1. the CT and its mask are read, checked to share one grid and put in RAS order; with ``--to-phases`` a
   variant may first be moved to another contrast phase (:mod:`.phase_change`, from the scan's full
   TotalSegmentator map), so that one real scan appears in every phase;
2. the liver's density is measured on the CT (its median HU), the other phase densities are drawn from the
   phase's table (:mod:`liver3d.phantoms.contrast`), and enhanced vessels are the liver voxels far brighter
   than the liver;
3. lesions are blended in; where a lesion replaces the background, the CT's noise is restored: Gaussian noise
   with the liver's own noise SD (measured as the spread of the CT minus its smoothed self), slightly smoothed
   like a reconstruction kernel's, weighted by how much of the background the lesion replaced;
4. each variant is written as int16 HU NIfTI with a label map (0 background, 1 liver, 2 tumor) and the set as
   a ``dataset.json`` like the phantoms' (one ``patient_id`` for every variant: they are one patient, so a
   patient-level split never puts them on both sides).

Variant ``i`` of seed ``s`` is always the same. A real CT used this way is training data: it can no longer
validate a model trained on it.

    python -m liver3d.phantoms.real_background --ct CT --liver-mask MASK --liver-value 5 \\
        --phase portal_venous --cases 96 --seed 0 --out DIR \\
        [--to-phases non_contrast arterial portal_venous delayed]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from liver3d.errors import InputError
from liver3d.geometry import Volume
from liver3d.io.nifti import save_nifti
from liver3d.io.readers import read_volume
from liver3d.phantoms.anatomy import GENERATOR_VERSION
from liver3d.phantoms.contrast import Phase, draw_phase_densities
from liver3d.phantoms.dataset import write_datalist
from liver3d.phantoms.geometry import PatientGrid
from liver3d.phantoms.lesions import plant_lesions
from liver3d.phantoms.real_background.phase_change import (
    TissueShift,
    change_phase,
    labels_phase_tissues,
    target_densities,
)

MAX_LESIONS = 6  # lesions per variant are drawn from 0..MAX_LESIONS: some variants stay tumor-free
LIVER_HU_RANGE = (-60.0, 250.0)  # a fatty liver reaches about -40 HU, an enhanced one stays far below 250
KERNEL_SIGMA_VOX = 0.6  # smoothing of the restored noise (in-plane voxels): CT noise is not white


class RealBackgroundError(InputError):
    """A real CT or liver mask that cannot take synthetic lesions (``path``: the file, ``problem``: why)."""


@dataclass(frozen=True)
class RealBackground:
    """A real CT in RAS order (HU, float32), its label map and liver mask, and what was measured on it."""

    ct: Volume
    label_map: np.ndarray
    liver: np.ndarray
    liver_hu: float
    noise_sd_hu: float
    source: str

    @classmethod
    def read(cls, ct_path: str | Path, mask_path: str | Path, liver_value: int) -> RealBackground:
        ct, mask = read_volume(ct_path), read_volume(mask_path)
        if len(ct.shape) != 3:
            raise RealBackgroundError(ct_path, f"expected a 3D CT, got shape {ct.shape}")
        aligned = mask.in_storage_order_of(ct)
        if aligned is None:
            raise RealBackgroundError(
                mask_path,
                f"the liver mask's grid {mask.shape} does not match the CT's {ct.shape} ({ct_path})",
            )
        label_map = ct.with_array(np.asarray(aligned)).to_ras().array
        liver = label_map == liver_value
        ct = ct.as_float32().to_ras()
        if liver.sum() < 1000:
            raise RealBackgroundError(
                mask_path,
                f"only {int(liver.sum())} voxels have the liver value {liver_value}; is it the right mask?",
            )
        hu = ct.array
        if not np.isfinite(hu).all():
            raise RealBackgroundError(ct_path, f"{int((~np.isfinite(hu)).sum())} NaN or infinite voxels")
        inner = ndimage.binary_erosion(liver, iterations=2) if liver.sum() > 5000 else liver
        residual = hu - ndimage.gaussian_filter(hu, (1.0, 1.0, 0.5))
        spread = residual[inner]
        noise_sd = float(1.4826 * np.median(np.abs(spread - np.median(spread))))  # robust SD
        liver_hu = float(np.median(hu[inner]))
        if not LIVER_HU_RANGE[0] <= liver_hu <= LIVER_HU_RANGE[1]:
            raise RealBackgroundError(
                ct_path,
                f"the liver's median is {liver_hu:.0f} HU, outside {LIVER_HU_RANGE}: "
                "not a CT in HU, or the mask's value is not the liver",
            )
        return cls(ct, label_map, liver, liver_hu, noise_sd, str(ct_path))

    def in_phase(self, targets: dict[str, float]) -> tuple[RealBackground, list[TissueShift]]:
        """This CT with its labelled phase-dependent tissues moved to ``targets`` (:mod:`.phase_change`)."""
        hu, shifts = change_phase(self.ct.array, self.label_map, self.liver, self.noise_sd_hu, targets)
        return replace(self, ct=self.ct.with_array(hu), liver_hu=shifts[0].target_hu), shifts


def plant_variant(
    background: RealBackground, phase: Phase, rng: np.random.Generator, count: int
) -> tuple[np.ndarray, np.ndarray, list]:
    """One variant: (HU, label, lesions) on the background's RAS grid."""
    hu = background.ct.array.copy()
    label = background.liver.astype(np.uint8)
    grid = PatientGrid(hu.shape, background.ct.spacing, (0.0, 0.0, 0.0))
    densities = draw_phase_densities(rng, phase)
    densities["liver"] = background.liver_hu
    vessels = background.liver & (hu > background.liver_hu + 4 * background.noise_sd_hu + 20)
    weight = np.zeros(hu.shape, np.float32)
    lesions, _ = plant_lesions(grid, hu, label, vessels, densities, phase, rng, count, blend_weight=weight)
    if lesions:
        noise = ndimage.gaussian_filter(
            rng.normal(size=hu.shape).astype(np.float32), (KERNEL_SIGMA_VOX, KERNEL_SIGMA_VOX, 0.0)
        )
        noise *= background.noise_sd_hu / max(float(noise.std()), 1e-6)
        hu += weight * noise
    return hu, label, lesions


def write_real_background_dataset(
    ct_path: str | Path,
    mask_path: str | Path,
    out_dir: str | Path,
    phase: str,
    cases: int,
    seed: int = 0,
    liver_value: int = 1,
    prefix: str = "real_bg",
    to_phases: list[str] | None = None,
) -> Path:
    """Write ``cases`` variants of a real CT with synthetic lesions; return the path of their ``dataset.json``.

    ``phase`` is the CT's own contrast phase. With ``to_phases``, each variant draws its phase from that list
    and, when it differs from ``phase``, the CT's tissues are moved to it first (:mod:`.phase_change`; the
    mask must then be the scan's full TotalSegmentator map).
    """
    if cases < 1:
        raise ValueError(f"cases must be >= 1, got {cases}")
    background = RealBackground.read(ct_path, mask_path, liver_value)
    phase_ = Phase(phase)
    variant_phases = [Phase(p) for p in to_phases or [phase]]
    if any(p is not phase_ for p in variant_phases) and not labels_phase_tissues(background.label_map):
        raise RealBackgroundError(
            mask_path,
            "another contrast phase needs the scan's full TotalSegmentator label map; "
            "this mask labels none of its phase-dependent tissues besides the liver",
        )
    out_dir = Path(out_dir)
    affine = background.ct.affine
    spacing = [float(s) for s in background.ct.spacing]
    entries = []
    for index in range(cases):
        rng = np.random.default_rng([seed, index])
        count = int(rng.integers(0, MAX_LESIONS + 1))
        phase_rng = np.random.default_rng([seed, index, 1])  # its own stream: variants without it unchanged
        variant_phase = variant_phases[int(phase_rng.integers(len(variant_phases)))] if to_phases else phase_
        variant, shifts = background, []
        if variant_phase is not phase_:
            variant, shifts = background.in_phase(target_densities(phase_rng, variant_phase))
        hu, label, lesions = plant_variant(variant, variant_phase, rng, count)
        case_id = f"{prefix}_s{seed}_{index:03d}"
        image_rel, label_rel = f"imagesTr/{case_id}.nii.gz", f"labelsTr/{case_id}.nii.gz"
        save_nifti(np.clip(np.round(hu), -1024, 3071).astype(np.int16), affine, out_dir / image_rel)
        save_nifti(label, affine, out_dir / label_rel)
        entries.append(
            {
                "image": image_rel,
                "label": label_rel,
                "case_id": case_id,
                "patient_id": f"REAL-{prefix}",
                "shape": [int(n) for n in hu.shape],
                "spacing_mm": spacing,
                "has_tumor": bool(lesions),
                "liver_volume_ml": float((label > 0).sum() * np.prod(spacing) / 1000.0),
                "tumors": [
                    {
                        "equivalent_diameter_mm": round(t.equivalent_diameter_mm, 2),
                        "volume_ml": round(t.volume_ml, 4),
                        "hu": round(t.hu, 1),
                        "pattern": t.pattern,
                    }
                    for t in lesions
                ],
                "phase": variant_phase.value,
                "real_background": {
                    "ct": str(ct_path),
                    "liver_mask": str(mask_path),
                    "liver_value": liver_value,
                    "phase": phase_.value,
                    "liver_hu": round(background.liver_hu, 1),
                    "noise_sd_hu": round(background.noise_sd_hu, 1),
                    "phase_change_hu": {
                        t.tissue: [round(t.median_hu, 1), round(t.target_hu, 1)] for t in shifts
                    },
                },
            }
        )
    return write_datalist(
        out_dir,
        entries,
        name="liver3d real-background lesions",
        description=f"Synthetic lesions planted in the real CT {ct_path} (seed {seed}).",
        reference="generated by python -m liver3d.phantoms.real_background",
        seed=seed,
        generator_version=f"{GENERATOR_VERSION} lesions on a real CT",
    )
