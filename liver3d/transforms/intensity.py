"""HU windowing: one named window to [0, 1], or several windows stacked as channels.

Stacking windows (liver, abdomen, bone...) gives a 3-channel network input that carries three views of
the same voxels, instead of one grey channel copied three times.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, ScaleIntensityRange, ScaleIntensityRanged, Transform

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
