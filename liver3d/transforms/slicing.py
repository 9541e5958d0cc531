"""Volumes to axial 2D / 2.5D slices with slice-level labels, and slice predictions back to volumes.

Slice label rule (seed 000): a slice is ``tumor`` if it holds any tumor voxel, else ``liver`` if it holds
any liver voxel, else ``background`` — with ``min_pixels`` to ignore specks. Every slice carries its index
along the sliced axis, so per-slice predictions (classes, CAMs) can be stacked back into the volume.

Shapes: image (C, X, Y, Z) -> slices (N, C * context, X, Y) for the default axis (the last, axial in RAS).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from liver3d.labels import load_label_table


def slice_labels(label: torch.Tensor | np.ndarray, axis: int = -1, min_pixels: int = 1) -> torch.Tensor:
    """Per-slice class along spatial ``axis`` of a (1, X, Y, Z) or (X, Y, Z) label map: tumor > liver > background."""
    lab = torch.as_tensor(np.asarray(label) if not isinstance(label, torch.Tensor) else label)
    if lab.ndim == 4:
        lab = lab[0]
    table = load_label_table()
    liver, tumor = table.value("liver"), table.value("tumor")
    spatial_axis = axis % 3
    other = tuple(d for d in range(3) if d != spatial_axis)
    tumor_count = (lab == tumor).sum(dim=other)
    liver_count = (lab == liver).sum(dim=other)
    result = torch.zeros(lab.shape[spatial_axis], dtype=torch.long)
    result[(liver_count + tumor_count) >= min_pixels] = liver
    result[tumor_count >= min_pixels] = tumor
    return result


class VolumeToSlices(Transform):
    """Cut a (C, X, Y, Z) volume into 2D (``context=1``) or 2.5D (``context=k``, odd) slices.

    Neighbouring slices become channels, ordered from lower to higher index; beyond the volume's ends the
    edge slice is repeated. Returns a dict with ``image`` (N, C*k, H, W), ``slice_index`` (N,) and, when a
    label is given, ``slice_label`` (N,) and ``seg`` (N, 1, H, W).

    Example:
        >>> out = VolumeToSlices(context=3)(torch.zeros(1, 8, 8, 5))
        >>> out["image"].shape
        torch.Size([5, 3, 8, 8])
    """

    def __init__(self, context: int = 1, axis: int = -1, min_pixels: int = 1, step: int = 1) -> None:
        if context < 1 or context % 2 == 0:
            raise ValueError(f"context must be an odd number of slices >= 1, got {context}")
        self.context, self.axis, self.min_pixels, self.step = context, axis, min_pixels, step

    def __call__(self, image: torch.Tensor, label: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        img = torch.as_tensor(image)
        if img.ndim != 4:
            raise ValueError(f"expected a channel-first 3D volume (C, X, Y, Z), got shape {tuple(img.shape)}")
        spatial_axis = self.axis % 3
        img = torch.movedim(img.as_subclass(torch.Tensor), spatial_axis + 1, 1)  # (C, D, H, W)
        depth = img.shape[1]
        indices = torch.arange(0, depth, self.step)
        half = self.context // 2
        offsets = torch.arange(-half, half + 1)
        neighbours = (indices[:, None] + offsets[None, :]).clamp_(0, depth - 1)  # (N, k)
        stacked = img[:, neighbours]  # (C, N, k, H, W)
        slices = stacked.permute(1, 2, 0, 3, 4).reshape(len(indices), -1, *img.shape[2:])
        out = {"image": slices, "slice_index": indices}
        if label is not None:
            lab = torch.as_tensor(label).as_subclass(torch.Tensor)
            if lab.ndim == 3:
                lab = lab[None]
            if lab.shape[1:] != torch.as_tensor(image).shape[1:]:
                raise ValueError(
                    f"label shape {tuple(lab.shape)} does not match image shape {tuple(image.shape)}"
                )
            out["slice_label"] = slice_labels(lab, self.axis, self.min_pixels)[indices]
            out["seg"] = torch.movedim(lab, spatial_axis + 1, 1)[:, indices].transpose(0, 1)
        return out


class VolumeToSlicesd(MapTransform):
    """Dictionary version of :class:`VolumeToSlices`: one volume dict in, a list of slice dicts out.

    Each slice dict has ``image``, ``slice_index``, ``slice_label`` and ``seg`` (when ``label_key`` is
    present), ``volume_shape`` and ``volume_affine`` (to stack predictions back), plus every other
    non-array field of the input (case id, patient id, paths). MONAI's ``list_data_collate`` flattens the
    lists, as for ``RandCropByPosNegLabeld``.
    """

    def __init__(
        self,
        keys: KeysCollection = "image",
        label_key: str | None = "label",
        context: int = 1,
        axis: int = -1,
        min_pixels: int = 1,
        step: int = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError("VolumeToSlicesd slices one image key")
        self.label_key = label_key
        self.slicer = VolumeToSlices(context, axis, min_pixels, step)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> list[dict]:
        d = dict(data)
        key = self.keys[0]
        image = d[key]
        label = d.get(self.label_key) if self.label_key else None
        sliced = self.slicer(image, label)
        affine = getattr(image, "affine", None)
        passthrough = {
            k: v
            for k, v in d.items()
            if k not in (key, self.label_key) and not isinstance(v, (torch.Tensor, np.ndarray))
        }
        out = []
        for n, index in enumerate(sliced["slice_index"].tolist()):
            item = dict(passthrough)
            item[key] = sliced["image"][n]
            item["slice_index"] = index
            item["volume_shape"] = tuple(image.shape[1:])
            if affine is not None:
                item["volume_affine"] = torch.as_tensor(affine).clone()
            if "slice_label" in sliced:
                item["slice_label"] = int(sliced["slice_label"][n])
                item["seg"] = sliced["seg"][n]
            out.append(item)
        return out


def stack_slices(
    slice_maps: Sequence[torch.Tensor | np.ndarray] | torch.Tensor,
    slice_indices: Sequence[int],
    depth: int,
    axis: int = -1,
    fill: float = 0.0,
) -> torch.Tensor:
    """Put per-slice maps (each (H, W) or (C, H, W)) back at their indices along ``axis`` of a volume.

    Slices that were not given stay at ``fill``. Returns (X, Y, Z) or (C, X, Y, Z).
    """
    maps = [torch.as_tensor(np.asarray(m) if not isinstance(m, torch.Tensor) else m) for m in slice_maps]
    if len(maps) != len(slice_indices):
        raise ValueError(f"{len(maps)} slice maps but {len(slice_indices)} indices")
    if not maps:
        raise ValueError("no slices to stack")
    first = maps[0]
    channel = first.ndim == 3
    shape2d = first.shape[-2:]
    volume = torch.full((first.shape[0] if channel else 1, depth, *shape2d), fill, dtype=first.dtype)
    for m, index in zip(maps, slice_indices):
        if not 0 <= int(index) < depth:
            raise ValueError(f"slice index {index} outside 0..{depth - 1}")
        volume[:, int(index)] = m if channel else m[None]
    spatial_axis = axis % 3
    volume = torch.movedim(volume, 1, spatial_axis + 1)
    return volume if channel else volume[0]
