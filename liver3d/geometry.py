"""Voxel geometry shared by transforms, inferers, metrics, reports and figures: spacing from an affine, margins
in voxels, RAS reordering, grid comparison, and :class:`Volume` (voxels with their affine). Nothing here draws;
``liver3d.viz`` imports it, not the reverse."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

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
    """A margin in mm (one value or one per axis) as whole voxels on a grid of ``spacing`` mm, rounded up.

    A spacing that differs from a round value only by float noise (2.4999999 mm after resampling) gives
    the same margin as the round value: 15 mm on 2.5 mm is 6 voxels, never 7."""
    margins = [margin_mm] * len(spacing) if np.isscalar(margin_mm) else list(margin_mm)  # type: ignore[arg-type]
    return [int(math.ceil(float(m) / s - 1e-6)) for m, s in zip(margins, spacing)]


def mask_bounding_box(mask, margin_vox: Sequence[int] | None = None) -> tuple[slice, ...] | None:
    """The bounding box (one slice per spatial axis) of a boolean ``mask`` (a numpy array or a tensor, on any
    device), widened by ``margin_vox`` voxels per axis and clipped to the mask's shape; None when it is empty."""
    ndim = mask.ndim
    margin = list(margin_vox) if margin_vox is not None else [0] * ndim
    box = []
    for dim in range(ndim):
        other = tuple(d for d in range(ndim) if d != dim)
        along = (
            mask.any(dim=other).cpu().numpy()
            if isinstance(mask, torch.Tensor)
            else np.asarray(mask).any(axis=other)
        )
        present = np.flatnonzero(along)
        if present.size == 0:
            return None
        box.append(
            slice(
                max(int(present[0]) - margin[dim], 0),
                min(int(present[-1]) + 1 + margin[dim], mask.shape[dim]),
            )
        )
    return tuple(box)


def same_world_grid(
    affine_a: np.ndarray,
    shape_a: Sequence[int],
    affine_b: np.ndarray,
    shape_b: Sequence[int],
    atol: float = 1e-3,
) -> bool:
    """True when two volumes cover the same voxel centres in world space, possibly stored in a different
    axis order or direction (e.g. a label saved LAS for a CT read LPS)."""
    from nibabel.orientations import inv_ornt_aff, io_orientation, ornt_transform

    transform = ornt_transform(io_orientation(affine_b), io_orientation(affine_a))
    shape_b_in_a = [int(shape_b[int(axis)]) for axis in np.argsort(transform[:, 0])]
    if list(shape_b_in_a) != [int(s) for s in shape_a[:3]]:
        return False
    reoriented = np.asarray(affine_b, dtype=float) @ inv_ornt_aff(transform, tuple(shape_b[:3]))
    return bool(np.allclose(reoriented, affine_a, atol=atol))


def axcodes(affine: np.ndarray) -> str:
    from nibabel.orientations import aff2axcodes

    return "".join(aff2axcodes(np.asarray(affine, dtype=float)))


def to_ras(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Reorder a volume's first three axes to RAS; return it and its voxel spacing (mm) in that order."""
    import nibabel as nib

    ornt = nib.orientations.io_orientation(affine)
    ras = nib.orientations.apply_orientation(array, ornt)
    spacing = tuple(float(s) for s in nib.affines.voxel_sizes(affine)[np.argsort(ornt[:, 0])])
    return ras, spacing  # type: ignore[return-value]


def ras_affine(affine: np.ndarray, shape) -> np.ndarray:
    """The affine of a volume after :func:`to_ras` reordered its axes."""
    from nibabel.orientations import inv_ornt_aff, io_orientation

    ornt = io_orientation(affine)
    return np.asarray(affine, dtype=float) @ inv_ornt_aff(ornt, tuple(shape[:3]))


@dataclass(frozen=True)
class Volume:
    """Voxels on a world grid: what a file read gives and what measurement and figures take.

    ``array`` is indexed like the file's voxels (i, j, k[, ...]); ``affine`` maps voxel indices to RAS mm
    (NIfTI's and MONAI's convention, also for a DICOM series read in LPS); ``source`` names where it came from,
    for messages. Replaces the ``(array, affine)`` pairs that used to travel between modules.
    """

    array: np.ndarray
    affine: np.ndarray
    source: str = "<in-memory volume>"

    def __post_init__(self) -> None:
        affine = np.asarray(self.affine, dtype=float)
        if affine.shape != (4, 4):
            raise ValueError(f"{self.source}: an affine must be 4x4, got shape {affine.shape}")
        object.__setattr__(self, "affine", affine)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.array.shape)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size (mm) along the array's first three axes."""
        return tuple(voxel_spacing(self.affine))  # type: ignore[return-value]

    @property
    def axcodes(self) -> str:
        return axcodes(self.affine)

    def with_array(self, array: np.ndarray) -> Volume:
        """Other voxels on this grid (a map, a mask), same source."""
        if tuple(np.shape(array))[:3] != self.shape[:3]:
            raise ValueError(
                f"{self.source}: voxels of shape {np.shape(array)} do not fit a {self.shape} grid"
            )
        return replace(self, array=array)

    def as_float32(self) -> Volume:
        return replace(self, array=np.asarray(self.array, dtype=np.float32))

    def to_ras(self) -> Volume:
        """The same voxels with the first three axes reordered to RAS, and the affine that goes with them."""
        ras, _ = to_ras(self.array, self.affine)
        return replace(self, array=ras, affine=ras_affine(self.affine, self.shape))

    def in_storage_order_of(self, ref: Volume, atol: float = 1e-3) -> np.ndarray | None:
        """These voxels in ``ref``'s storage order (axes flipped or swapped as needed) when both cover the same
        world grid; None when they do not."""
        if self.shape[:3] == ref.shape[:3] and np.allclose(self.affine, ref.affine, atol=atol):
            return self.array
        if not ref.same_grid(self, atol):
            return None
        from nibabel.orientations import apply_orientation, io_orientation, ornt_transform

        return apply_orientation(
            self.array, ornt_transform(io_orientation(self.affine), io_orientation(ref.affine))
        )

    def same_grid(self, other: Volume, atol: float = 1e-3) -> bool:
        """True when ``other`` covers the same voxel centres, possibly stored in another axis order."""
        return same_world_grid(self.affine, self.shape, other.affine, other.shape, atol)
