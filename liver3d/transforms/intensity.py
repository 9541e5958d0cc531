"""HU windowing: one named window to [0, 1], several windows stacked as channels, or a window set at each
volume's own liver.

Stacking windows (liver, abdomen, bone...) gives a 3-channel network input that carries three views of
the same voxels, instead of one grey channel copied three times. A window set at the liver's own median
(:class:`LiverLevelWindowd`) is what a radiologist does when reading for lesions: the level follows the
contrast phase (about 55 HU non-contrast, 110 HU portal venous), the width is narrower than a fixed window
that must hold every phase.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, ScaleIntensityRange, ScaleIntensityRanged, Transform

from liver3d.errors import InputError
from liver3d.transforms.io import source_name
from liver3d.windows import window_bounds

WindowSpec = str | Sequence[float]


def _bounds(window: WindowSpec) -> tuple[float, float]:
    """A preset name or an explicit (lower, upper) pair in HU."""
    if isinstance(window, str):
        return window_bounds(window)
    lower, upper = window
    return window_bounds(lower=float(lower), upper=float(upper))


class WindowHU(ScaleIntensityRange):
    """Map the HU window [lower, upper] linearly to [0, 1], clipping outside it.

    Args:
        window: preset name from ``configs/windows.json`` ("liver" is -100..200 HU) or (lower, upper) HU.

    Example:
        >>> WindowHU("liver")(torch.tensor([-1000.0, -100.0, 50.0, 200.0]))
        tensor([0.0000, 0.0000, 0.5000, 1.0000])
    """

    def __init__(self, window: WindowSpec = "liver", clip: bool = True, dtype=np.float32) -> None:
        lower, upper = _bounds(window)
        super().__init__(a_min=lower, a_max=upper, b_min=0.0, b_max=1.0, clip=clip, dtype=dtype)


class WindowHUd(ScaleIntensityRanged):
    """Dictionary version of :class:`WindowHU`."""

    def __init__(
        self,
        keys: KeysCollection,
        window: WindowSpec = "liver",
        clip: bool = True,
        dtype=np.float32,
        allow_missing_keys: bool = False,
    ) -> None:
        lower, upper = _bounds(window)
        super().__init__(
            keys,
            a_min=lower,
            a_max=upper,
            b_min=0.0,
            b_max=1.0,
            clip=clip,
            dtype=dtype,
            allow_missing_keys=allow_missing_keys,
        )


class MultiWindowHU(Transform):
    """Stack several windows of a one-channel CT as channels: (1, *spatial) -> (n_windows, *spatial).

    Example:
        >>> MultiWindowHU(["liver", "abdomen", "bone"])(torch.zeros(1, 4, 4, 4)).shape
        torch.Size([3, 4, 4, 4])
    """

    def __init__(self, windows: Sequence[WindowSpec] = ("liver", "abdomen", "bone")) -> None:
        if not windows:
            raise ValueError("give at least one window")
        self.bounds = [_bounds(w) for w in windows]

    def __call__(self, img: torch.Tensor | np.ndarray) -> torch.Tensor:
        img = torch.as_tensor(img) if not isinstance(img, torch.Tensor) else img
        if img.shape[0] != 1:
            raise ValueError(f"MultiWindowHU expects one channel first, got shape {tuple(img.shape)}")
        img = img.float()
        channels = [((img - lo) / (hi - lo)).clamp_(0.0, 1.0) for lo, hi in self.bounds]
        out = torch.cat(channels, dim=0)
        if isinstance(img, MetaTensor) and not isinstance(out, MetaTensor):
            out = MetaTensor(out, meta=img.meta, applied_operations=img.applied_operations)
        return out


class MultiWindowHUd(MapTransform):
    """Dictionary version of :class:`MultiWindowHU`."""

    def __init__(
        self,
        keys: KeysCollection,
        windows: Sequence[WindowSpec] = ("liver", "abdomen", "bone"),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.stacker = MultiWindowHU(windows)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.stacker(d[key])
        return d


class LiverLevelWindowd(MapTransform):
    """Map [m + lower, m + upper] HU to [0, 1], clipping outside it, where m is the median HU of each image's
    own liver (``labels`` of the one-channel label map ``source_key``, by default the parenchyma without
    tumors, so a large tumor burden does not move the level).

    Put it where :class:`WindowHUd` would go (on HU, before resizing). An image whose mask holds no liver
    voxel has no level: an :class:`~liver3d.errors.InputError` naming the file.

    Example (liver 60 HU: 30 HU -> 0.35, the liver -> 0.5)::

        LiverLevelWindowd(keys="image", source_key="label", offsets=(-100, 100))
    """

    def __init__(
        self,
        keys: KeysCollection,
        source_key: str = "label",
        offsets: Sequence[float] = (-100.0, 100.0),
        labels: Sequence[int] = (1,),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        lower, upper = (float(v) for v in offsets)
        if not upper > lower:
            raise ValueError(f"liver-level window offsets must rise, got {lower} .. {upper} HU")
        self.offsets = (lower, upper)
        self.source_key = source_key
        self.labels = tuple(int(v) for v in labels)

    def level(self, image: torch.Tensor, mask: torch.Tensor) -> float:
        """The median HU of ``image`` over the liver voxels of ``mask`` (both (1, X, Y, Z), one grid)."""
        name = source_name(image, "image")
        if mask.shape[0] != 1:
            raise InputError(
                name, f"liver mask has {mask.shape[0]} channels; a one-channel label map is needed"
            )
        if tuple(image.shape[1:]) != tuple(mask.shape[1:]):
            raise InputError(
                name,
                f"image grid {tuple(image.shape[1:])} differs from its liver mask's {tuple(mask.shape[1:])}",
            )
        liver = torch.isin(torch.as_tensor(mask)[0], torch.tensor(self.labels, device=mask.device))
        if not bool(liver.any()):
            raise InputError(name, "no liver voxels in its mask to set the window's level on")
        return float(torch.as_tensor(image)[0][liver].float().median())

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        if self.source_key not in d:
            raise InputError(
                source_name(d.get(self.first_key(d)), "input"),
                f"no liver mask under {self.source_key!r} to set the window's level on",
            )
        for key in self.key_iterator(d):
            level = self.level(d[key], d[self.source_key])
            lower, upper = level + self.offsets[0], level + self.offsets[1]
            d[key] = ScaleIntensityRange(
                a_min=lower, a_max=upper, b_min=0.0, b_max=1.0, clip=True, dtype=np.float32
            )(d[key])
        return d
