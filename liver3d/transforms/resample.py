"""Label maps back onto the input's grid, fast, for the common case of axis-aligned grids.

After ``Orientationd`` + ``Spacingd`` the network grid and the input grid differ by axis permutations, flips
and per-axis scaling. Nearest-neighbour resampling between such grids is a gather along each axis separately,
so a 512x512x300 label map comes back in a fraction of a second with no float copy of the volume; MONAI's
``Invertd`` (a dense interpolation grid) took 6 s and 3 GiB here. Oblique grids fall back to MONAI's
``SpatialResample``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, SpatialResample


def _axis_map(transform: np.ndarray, tol: float = 1e-4) -> list[int] | None:
    """For output->source voxel ``transform``, the source axis of each output axis; None if oblique."""
    linear = transform[:3, :3]
    mapping = []
    for out_axis in range(3):
        column = np.abs(linear[:, out_axis])
        src = int(column.argmax())
        if np.sum(column > tol * column.max()) != 1:
            return None
        mapping.append(src)
    return mapping if sorted(mapping) == [0, 1, 2] else None


def resample_labels_nearest(
    labels: torch.Tensor, labels_affine: np.ndarray, target_affine: np.ndarray, target_shape: Sequence[int]
) -> torch.Tensor:
    """Nearest-neighbour resampling of (C, X, Y, Z) ``labels`` onto the grid ``target_affine``/``target_shape``.

    Voxels of the target outside the source grid get 0 (background).
    """
    transform = np.linalg.inv(np.asarray(labels_affine, dtype=np.float64)) @ np.asarray(
        target_affine, dtype=np.float64
    )
    mapping = _axis_map(transform)
    source = labels.as_tensor() if isinstance(labels, MetaTensor) else torch.as_tensor(labels)
    if mapping is None:  # oblique: MONAI's general resampler
        resampled = SpatialResample(mode="nearest", padding_mode="zeros")(
            MetaTensor(source.float(), affine=torch.as_tensor(labels_affine)),
            dst_affine=torch.as_tensor(target_affine),
            spatial_size=tuple(int(s) for s in target_shape),
        )
        return resampled.as_tensor().round().to(source.dtype)
    indices, valid = [], []
    for out_axis, src_axis in enumerate(mapping):
        positions = np.arange(int(target_shape[out_axis]), dtype=np.float64)
        src = np.rint(transform[src_axis, out_axis] * positions + transform[src_axis, 3]).astype(np.int64)
        ok = (src >= 0) & (src < source.shape[1 + src_axis])
        indices.append(torch.as_tensor(np.clip(src, 0, source.shape[1 + src_axis] - 1)))
        valid.append(torch.as_tensor(ok))
    # Bring source axes into output order, then gather each axis.
    permuted = source.permute(0, *(1 + m for m in mapping))
    out = permuted[:, indices[0]][:, :, indices[1]][:, :, :, indices[2]]
    mask = valid[0][:, None, None] & valid[1][None, :, None] & valid[2][None, None, :]
    if not bool(mask.all()):
        out = out * mask.to(out.dtype)
    return out


class ResampleToInputd(MapTransform):
    """Put label maps in ``keys`` back on the grid the input image was loaded with (nearest neighbour).

    The target grid is the ``original_affine`` and ``spatial_shape`` that MONAI's ``LoadImage`` stores in the
    metadata of ``ref_key``; the result is a ``MetaTensor`` with that affine.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        ref_key: str = "image",
        dtype=torch.uint8,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.ref_key, self.dtype = ref_key, dtype

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        ref = d[self.ref_key]
        meta = getattr(ref, "meta", {}) or {}
        if "original_affine" not in meta or "spatial_shape" not in meta:
            raise ValueError(
                f"{self.ref_key} has no original_affine/spatial_shape metadata (load it with LoadVolumed)"
            )
        target_affine = np.asarray(torch.as_tensor(meta["original_affine"]), dtype=np.float64)
        target_shape = [int(s) for s in np.asarray(torch.as_tensor(meta["spatial_shape"])).reshape(-1)[:3]]
        for key in self.key_iterator(d):
            labels = d[key]
            source_affine = getattr(labels, "affine", None)
            if source_affine is None:
                source_affine = ref.affine
            out = resample_labels_nearest(
                torch.as_tensor(labels).to(self.dtype),
                np.asarray(torch.as_tensor(source_affine)),
                target_affine,
                target_shape,
            )
            new_meta = dict(meta)
            new_meta["affine"] = torch.as_tensor(target_affine)
            d[key] = MetaTensor(out, meta=new_meta)
        return d
