"""Voxel geometry shared by transforms, inferers and metrics: spacing from an affine, margins in voxels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def voxel_spacing(x) -> list[float]:
    """Voxel size (mm) per spatial axis of a MetaTensor (batched or not) or an affine; 1 mm when unknown."""
    affine = x.affine if hasattr(x, "affine") else x
    if affine is None:
        return [1.0, 1.0, 1.0]
    affine = np.asarray(torch.as_tensor(affine, dtype=torch.float64))
    if affine.shape[-2:] != (4, 4):  # a plain tensor: no geometry known
        return [1.0, 1.0, 1.0]
    if affine.ndim == 3:  # a batch shares one grid here
        affine = affine[0]
    return np.sqrt((affine[:3, :3] ** 2).sum(axis=0)).tolist()


def margin_voxels(margin_mm: float | Sequence[float], spacing: Sequence[float]) -> list[int]:
    """A margin in mm (one value or one per axis) as whole voxels on a grid of ``spacing`` mm, rounded up."""
    margins = [margin_mm] * len(spacing) if np.isscalar(margin_mm) else list(margin_mm)  # type: ignore[arg-type]
    return [int(math.ceil(float(m) / s)) for m, s in zip(margins, spacing)]
