"""From a class activation map to a pseudo-mask, and how well it matches a reference (seed 000, in 2D or 3D).

CAM -> min-max normalise to [0, 1] -> threshold -> morphological opening then closing (scikit-image footprints:
a disk in 2D, a ball in 3D) -> binary pseudo-mask, scored by IoU and Dice, with the threshold swept
(0.50-0.99 by default) to report the best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import morphology


def normalize_cam(cam: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; a constant map becomes all zeros."""
    cam = np.asarray(cam, dtype=np.float32)
    lo, hi = float(cam.min()), float(cam.max())
    return np.zeros_like(cam) if hi - lo < 1e-12 else (cam - lo) / (hi - lo)


def _footprint(radius: int, ndim: int) -> np.ndarray:
    return morphology.disk(radius) if ndim == 2 else morphology.ball(radius)


def cam_to_mask(
    cam: np.ndarray,
    threshold: float = 0.5,
    opening_radius: int = 1,
    closing_radius: int = 1,
    normalize: bool = True,
) -> np.ndarray:
    """Binary pseudo-mask of a 2D or 3D CAM (radii in voxels; 0 skips that step)."""
    cam = normalize_cam(cam) if normalize else np.asarray(cam)
    mask = cam >= threshold
    if opening_radius > 0:
        mask = ndimage.binary_opening(mask, structure=_footprint(opening_radius, mask.ndim))
    if closing_radius > 0:
        mask = ndimage.binary_closing(mask, structure=_footprint(closing_radius, mask.ndim))
    return mask


def iou(mask: np.ndarray, reference: np.ndarray) -> float:
    """Intersection over union; both empty -> 1.0."""
    mask, reference = np.asarray(mask, bool), np.asarray(reference, bool)
    union = np.logical_or(mask, reference).sum()
    return 1.0 if union == 0 else float(np.logical_and(mask, reference).sum() / union)


def dice(mask: np.ndarray, reference: np.ndarray) -> float:
    """Dice coefficient; both empty -> 1.0."""
    mask, reference = np.asarray(mask, bool), np.asarray(reference, bool)
    total = mask.sum() + reference.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(mask, reference).sum() / total)


@dataclass(frozen=True)
class SweepResult:
    thresholds: tuple[float, ...]
    ious: tuple[float, ...]
    dices: tuple[float, ...]

    @property
    def best_index(self) -> int:
        return int(np.argmax(self.ious))

    @property
    def best_threshold(self) -> float:
        return self.thresholds[self.best_index]

    @property
    def best_iou(self) -> float:
        return self.ious[self.best_index]

    @property
    def best_dice(self) -> float:
        return self.dices[self.best_index]


def default_thresholds() -> tuple[float, ...]:
    return tuple(round(t, 2) for t in np.arange(0.50, 0.995, 0.01))


def sweep_thresholds(
    cam: np.ndarray,
    reference: np.ndarray,
    thresholds: Sequence[float] | None = None,
    opening_radius: int = 1,
    closing_radius: int = 1,
) -> SweepResult:
    """IoU and Dice of the pseudo-mask at every threshold (the CAM is normalised once)."""
    thresholds = tuple(thresholds) if thresholds is not None else default_thresholds()
    cam = normalize_cam(cam)
    ious, dices = [], []
    for t in thresholds:
        mask = cam_to_mask(cam, t, opening_radius, closing_radius, normalize=False)
        ious.append(iou(mask, reference))
        dices.append(dice(mask, reference))
    return SweepResult(thresholds, tuple(ious), tuple(dices))
