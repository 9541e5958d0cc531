"""Liver-ROI crop for the cascade: the bounding box of the liver (mask or stage-1 prediction) plus a margin in mm;
and a mask that blanks everything but the liver and a rim (for classifiers that must look at the liver).

Built on MONAI's ``CropForegroundd``, so it records itself and ``Invertd`` puts stage-2 outputs back on
the full grid.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import CropForegroundd, MapTransform
from scipy import ndimage

from liver3d.errors import InputError
from liver3d.geometry import margin_voxels, mask_bounding_box, voxel_spacing
from liver3d.transforms.io import source_name


class LabelSelector:
    """Foreground = voxels whose value is in ``values``; an empty selection selects everything (no crop)."""

    def __init__(self, values: Sequence[int] = (1, 2)) -> None:
        self.values = tuple(int(v) for v in values)

    def __call__(self, x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        if isinstance(x, torch.Tensor):
            mask = torch.isin(x, torch.tensor(self.values, device=x.device, dtype=x.dtype))
            if not bool(mask.any()):
                warnings.warn(
                    "liver ROI: no liver voxels in the source; keeping the whole volume", stacklevel=2
                )
                return torch.ones_like(mask)
            return mask
        mask = np.isin(x, self.values)
        if not mask.any():
            warnings.warn("liver ROI: no liver voxels in the source; keeping the whole volume", stacklevel=2)
            return np.ones_like(mask)
        return mask


class LiverROICropd(CropForegroundd):
    """Crop ``keys`` to the bounding box of ``labels`` in ``source_key``, widened by ``margin_mm`` on each side.

    The margin is converted to voxels from the source's own spacing, so 10 mm means 10 mm on 0.7 mm
    pixels and on 5 mm slices alike. ``k_divisible`` pads the box so networks with pooling accept it.

    Example (cascade stage 2 on a stage-1 prediction under ``pred``)::

        LiverROICropd(keys=["image", "label"], source_key="pred", margin_mm=15)
    """

    def __init__(
        self,
        keys: KeysCollection,
        source_key: str = "label",
        labels: Sequence[int] = (1, 2),
        margin_mm: float | Sequence[float] = 10.0,
        k_divisible: Sequence[int] | int = 1,
        allow_missing_keys: bool = False,
        **pad_kwargs,
    ) -> None:
        super().__init__(
            keys,
            source_key=source_key,
            select_fn=LabelSelector(labels),
            margin=0,
            allow_smaller=True,
            k_divisible=k_divisible,
            allow_missing_keys=allow_missing_keys,
            **pad_kwargs,
        )
        self.margin_mm = margin_mm

    def __call__(
        self, data: Mapping[Hashable, torch.Tensor], lazy: bool | None = None
    ) -> dict[Hashable, torch.Tensor]:
        # The margin depends on this case's spacing, so the box comes from a per-call copy of the cropper;
        # the crop stays with the shared one, whose id Invertd checks. Setting the margin on the shared one
        # raced when CacheDataset fills its cache in threads (a case cropped with another's margin, so two
        # same-seed trainings differed).
        if self.source_key not in data:
            path = source_name(data.get(self.first_key(data)), "input")
            raise InputError(path, f"no liver mask under {self.source_key!r} for the liver-ROI crop")
        cropper = copy.copy(self.cropper)
        cropper.margin = margin_voxels(self.margin_mm, voxel_spacing(data[self.source_key]))
        d = dict(data)
        box_start, box_end = cropper.compute_bounding_box(img=d[self.source_key])
        if self.start_coord_key is not None:
            d[self.start_coord_key] = box_start
        if self.end_coord_key is not None:
            d[self.end_coord_key] = box_end
        lazy_ = self.lazy if lazy is None else lazy
        for key, mode in self.key_iterator(d, self.mode):
            d[key] = self.cropper.crop_pad(
                img=d[key], box_start=box_start, box_end=box_end, mode=mode, lazy=lazy_
            )
        return d


class MaskOutsideLiverd(MapTransform):
    """Set ``keys`` to ``fill`` outside the liver of ``source_key`` widened by ``margin_mm`` (in 3D, in mm).

    A classifier that sees only the liver and a rim around it cannot find its evidence for "tumor slice"
    in bowel, kidney or spine; the lesions are what is left. Intensity only: the grid is unchanged, so
    nothing needs inverting. Put it after windowing with ``fill`` the window's floor (0). The mask is a
    one-channel label map. A mask without liver blanks everything, with a warning: there is no liver to
    look at.

    Example (after ``LiverROICropd`` and ``WindowHUd``)::

        MaskOutsideLiverd(keys="image", source_key="label", margin_mm=5)
    """

    def __init__(
        self,
        keys: KeysCollection,
        source_key: str = "label",
        labels: Sequence[int] = (1, 2),
        margin_mm: float = 5.0,
        fill: float = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.source_key = source_key
        self.labels = tuple(int(v) for v in labels)
        self.margin_mm = float(margin_mm)
        self.fill = float(fill)

    def region(self, source: torch.Tensor, spacing: Sequence[float]) -> np.ndarray:
        """The kept voxels (a (1, X, Y, Z) boolean array): within ``margin_mm`` of a liver voxel of the
        one-channel label map ``source``. The distance is computed only in the liver's box widened by the
        margin: a whole CT at full resolution stays cheap."""
        liver = np.isin(torch.as_tensor(source).detach().cpu().numpy()[0], self.labels)
        keep = np.zeros((1, *liver.shape), dtype=bool)
        if not liver.any():
            warnings.warn(
                "mask outside the liver: no liver voxels in the mask; the whole image is blanked",
                stacklevel=2,
            )
            return keep
        if self.margin_mm <= 0:
            keep[0] = liver
            return keep
        box = mask_bounding_box(liver, margin_voxels(self.margin_mm, spacing))
        keep[(0, *box)] = ndimage.distance_transform_edt(~liver[box], sampling=spacing) <= self.margin_mm
        return keep

    def kept(self, data: Mapping[Hashable, torch.Tensor]) -> np.ndarray:
        """The voxels this transform keeps in ``data`` (an (X, Y, Z) boolean array on the grid of its liver
        mask), without changing anything: what a masked-liver classifier is shown, e.g. to keep its CAMs
        inside it (:class:`liver3d.cam.CamEvaluator`'s ``region``)."""
        return self._kept(data, self._source(data))

    def _kept(self, data: Mapping[Hashable, torch.Tensor], source: torch.Tensor) -> np.ndarray:
        # A label without geometry takes the image's spacing (a plain tensor would read as 1 mm voxels).
        geometry = source if hasattr(source, "affine") else data.get(self.first_key(data), source)
        return self.region(source, voxel_spacing(geometry))[0]

    def _source(self, data: Mapping[Hashable, torch.Tensor]) -> torch.Tensor:
        if self.source_key not in data:
            path = source_name(data.get(self.first_key(data)), "input")
            raise InputError(path, f"no liver mask under {self.source_key!r} to mask outside the liver")
        source = data[self.source_key]
        if source.shape[0] != 1:
            raise InputError(
                source_name(data.get(self.first_key(data)), self.source_key),
                f"liver mask has {source.shape[0]} channels; a one-channel label map is needed",
            )
        return source

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        source = self._source(d)
        for key in self.key_iterator(d):
            if tuple(d[key].shape[1:]) != tuple(source.shape[1:]):
                raise InputError(
                    source_name(d[key], str(key)),
                    f"image grid {tuple(d[key].shape[1:])} differs from its liver mask's {tuple(source.shape[1:])}",
                )
        keep = self._kept(d, source)[None]
        for key in self.key_iterator(d):
            kept = torch.as_tensor(keep, device=d[key].device)
            d[key] = torch.where(kept, d[key], torch.as_tensor(self.fill, dtype=d[key].dtype))
        return d
