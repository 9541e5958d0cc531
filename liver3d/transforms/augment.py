"""CT domain randomization that MONAI has no transform for: per-tissue HU shifts and window jitter.

Both work on images in Hounsfield units, before windowing (the rest of the randomization - rotation,
scaling, elastic, gamma, contrast, brightness, noise, blur, low resolution - uses MONAI's own transforms in
the bundle config).

- :class:`RandTissueHUShift` adds one random offset (HU) per tissue of a phantom's tissue map, so a network
  cannot learn "liver is 60 HU" but must use shape and context (after SynthSeg, Billot et al., MedIA 2023).
  The offset map is smoothed a little so tissue borders keep the phantom's partial-volume blur.
- :class:`RandWindowHU` maps a jittered HU window to [0, 1], as different readers and pipelines window CT.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform

from liver3d.transforms.intensity import WindowSpec, _bounds


def _smooth(volume: torch.Tensor, sigma_vox: float) -> torch.Tensor:
    """Separable Gaussian blur of a (C, X, Y, Z) tensor, ``sigma_vox`` voxels on every axis."""
    if sigma_vox <= 0:
        return volume
    radius = max(1, int(round(2 * sigma_vox)))
    t = torch.arange(-radius, radius + 1, dtype=volume.dtype, device=volume.device)
    kernel = torch.exp(-0.5 * (t / sigma_vox) ** 2)
    kernel = kernel / kernel.sum()
    out = volume.unsqueeze(0)  # (1, C, X, Y, Z)
    channels = out.shape[1]
    for dim in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + dim] = kernel.numel()
        weight = kernel.reshape(shape).repeat(channels, 1, 1, 1, 1)
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - dim)] = pad[2 * (2 - dim) + 1] = radius
        out = F.conv3d(F.pad(out, pad, mode="replicate"), weight, groups=channels)
    return out[0]


class RandTissueHUShift(RandomizableTransform):
    """Add a random HU offset per tissue value of ``tissue`` to ``img`` (both (C, X, Y, Z)).

    Args:
        max_shift_hu: offsets are drawn uniformly in [-max, max] HU for each tissue present.
        per_tissue_max_hu: overrides of ``max_shift_hu`` by tissue value (e.g. lesions, vessels).
        ignore: tissue values left unchanged (air, bone: their HU carry no phase information).
        smooth_vox: Gaussian sigma (voxels) of the offset map.
        prob: probability of shifting at all.

    Example:
        >>> t = RandTissueHUShift(max_shift_hu=30, prob=1.0); t.set_random_state(0)
        >>> out = t(torch.zeros(1, 8, 8, 8), torch.ones(1, 8, 8, 8))
    """

    def __init__(
        self,
        max_shift_hu: float = 25.0,
        per_tissue_max_hu: Mapping[int, float] | None = None,
        ignore: tuple[int, ...] = (),
        smooth_vox: float = 0.7,
        prob: float = 0.8,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.max_shift_hu = float(max_shift_hu)
        self.per_tissue = {int(k): float(v) for k, v in (per_tissue_max_hu or {}).items()}
        self.ignore = {int(v) for v in ignore}
        self.smooth_vox = float(smooth_vox)

    def __call__(self, img: torch.Tensor, tissue: torch.Tensor) -> torch.Tensor:
        self.randomize(None)
        if not self._do_transform:
            return img
        values = torch.as_tensor(tissue).round().long()
        table_size = int(values.max()) + 1 if values.numel() else 1
        lut = torch.zeros(table_size, dtype=torch.float32)
        for value in torch.unique(values).tolist():
            if value in self.ignore:
                continue
            limit = self.per_tissue.get(value, self.max_shift_hu)
            lut[value] = float(self.R.uniform(-limit, limit))
        offset = _smooth(lut[values.clamp(min=0)].float(), self.smooth_vox)
        return img + offset.to(img.device, img.dtype)


class _Delegatingd(MapTransform, RandomizableTransform):
    """A dictionary wrapper whose randomness lives in its array transform ``self.inner``."""

    def __init__(self, keys: KeysCollection, inner: RandomizableTransform, allow_missing_keys: bool) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, 1.0)
        self.inner = inner

    def set_random_state(self, seed=None, state=None):
        super().set_random_state(seed, state)
        self.inner.set_random_state(seed, state)
        return self


class RandTissueHUShiftd(_Delegatingd):
    """Dictionary version of :class:`RandTissueHUShift`; the tissue map comes from ``tissue_key``.

    Cases without a tissue map (real CT) pass unchanged.
    """

    def __init__(
        self,
        keys: KeysCollection,
        tissue_key: str = "tissue",
        max_shift_hu: float = 25.0,
        per_tissue_max_hu: Mapping[int, float] | None = None,
        ignore: tuple[int, ...] = (),
        smooth_vox: float = 0.7,
        prob: float = 0.8,
        allow_missing_keys: bool = False,
    ) -> None:
        inner = RandTissueHUShift(max_shift_hu, per_tissue_max_hu, ignore, smooth_vox, prob)
        super().__init__(keys, inner, allow_missing_keys)
        self.tissue_key = tissue_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        if self.tissue_key not in d:
            return d
        for key in self.key_iterator(d):
            d[key] = self.inner(d[key], d[self.tissue_key])
        return d


class RandWindowHU(RandomizableTransform):
    """Map a randomly jittered HU window to [0, 1] (clipped).

    Args:
        window: the nominal window (preset name or (lower, upper) HU).
        jitter_hu: each bound moves by up to this many HU (independently).
        prob: probability of jittering; otherwise the nominal window is used.
    """

    def __init__(self, window: WindowSpec = "liver", jitter_hu: float = 25.0, prob: float = 0.5) -> None:
        RandomizableTransform.__init__(self, prob)
        self.lower, self.upper = _bounds(window)
        self.jitter_hu = float(jitter_hu)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        self.randomize(None)
        lower, upper = self.lower, self.upper
        if self._do_transform:
            lower += float(self.R.uniform(-self.jitter_hu, self.jitter_hu))
            upper += float(self.R.uniform(-self.jitter_hu, self.jitter_hu))
            upper = max(upper, lower + 50.0)
        return ((img - lower) / (upper - lower)).clamp(0.0, 1.0)


class RandWindowHUd(_Delegatingd):
    """Dictionary version of :class:`RandWindowHU`."""

    def __init__(
        self,
        keys: KeysCollection,
        window: WindowSpec = "liver",
        jitter_hu: float = 25.0,
        prob: float = 0.5,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, RandWindowHU(window, jitter_hu, prob), allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.inner(d[key])
        return d


def tissue_values(names: list[str]) -> list[int]:
    """Tissue map values of the named phantom tissues (``["BONE_CORTEX", "AIR"]`` -> ``[25, 0]``)."""
    from liver3d.phantoms.anatomy import Tissue

    return [int(Tissue[name]) for name in names]


__all__ = ["RandTissueHUShift", "RandTissueHUShiftd", "RandWindowHU", "RandWindowHUd", "tissue_values"]
_ = np  # numpy kept for doctest namespaces
