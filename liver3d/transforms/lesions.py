"""Synthetic lesions planted in liver slices: label-free tumor synthesis for a slice classifier.

A slice classifier trained on a few dozen patients sees a few hundred lesions; Hu et al. (CVPR 2023,
"Label-free liver tumor segmentation") show that lesions drawn into healthy livers can stand in for real
ones. :class:`RandSyntheticLesiond` works on one training sample of ``liver3d.data.SliceDataset`` (a windowed
2D or 2.5D stack with the centre slice's label map): with probability ``prob`` a slice whose class is liver
gets an ellipsoidal lesion inside its liver, its class becomes tumor and the lesion's pixels become tumor in
its label map. The lesion is an HU offset added to what is there (the scan's own noise and texture stay), so
its contrast is the same in every contrast phase and window:

- hypodense (most): ``hypodense_hu`` below the liver (metastases, cysts, washed-out HCC);
- hyperdense (``hyperdense_fraction``): ``hyperdense_hu`` above it (arterial HCC, hemangioma);
- rim-enhancing (``rim_fraction``): a hypodense core in a brighter ring (metastases with a rim, HCC capsule).

Its size is drawn log-uniformly in ``radius_px`` (pixels of the network input), its extent across the stack
in ``depth_slices`` (the neighbouring channels show smaller cuts, or none), its edge softness in ``edge_px``;
it is cut to the liver of the centre slice. Training only: inference and evaluation never see it.

Relabelling moves slices from liver to tumor, so class weights taken from the dataset's own labels would
favour tumor: :func:`relabelled_counts` gives the class counts the network is trained on, for
``liver3d.data.weights_from_counts``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.transforms import RandomizableTransform
from scipy import ndimage

from liver3d.transforms.intensity import WindowSpec, _bounds


def relabelled_counts(
    counts: Sequence[float], prob: float, liver_label: int = 1, tumor_label: int = 2
) -> np.ndarray:
    """Expected slice counts per class when a share ``prob`` of the liver slices is relabelled tumor.

    Example:
        >>> relabelled_counts([100, 60, 20], 0.25).tolist()
        [100.0, 45.0, 35.0]
    """
    out = np.asarray(counts, dtype=float).copy()
    moved = float(prob) * out[liver_label]
    out[liver_label] -= moved
    out[tumor_label] += moved
    return out


class RandSyntheticLesiond(RandomizableTransform):
    """Plant a synthetic lesion in a liver slice sample and relabel it tumor (see the module docstring).

    Args:
        image_key: the windowed (C, H, W) stack, channels = neighbouring slices, the centre one in the middle.
        mask_key: the centre slice's (1, H, W) label map (0 background, ``liver_label``, ``tumor_label``).
        label_key: the slice class (a scalar tensor or int).
        window: the HU window the image was mapped to [0, 1] with (converts the HU offsets).
        prob: probability of planting a lesion in a liver slice; other slices always pass unchanged.

    Example::

        RandSyntheticLesiond(window="liver", prob=0.3)   # first of the training slice transforms
    """

    def __init__(
        self,
        image_key: str = "image",
        mask_key: str = "mask",
        label_key: str = "label",
        window: WindowSpec = "liver",
        prob: float = 0.3,
        hypodense_hu: Sequence[float] = (-80.0, -10.0),
        hyperdense_hu: Sequence[float] = (20.0, 70.0),
        rim_hu: Sequence[float] = (20.0, 60.0),
        hyperdense_fraction: float = 0.15,
        rim_fraction: float = 0.15,
        radius_px: Sequence[float] = (2.5, 16.0),
        depth_slices: Sequence[float] = (0.5, 3.0),
        edge_px: Sequence[float] = (0.5, 2.0),
        liver_label: int = 1,
        tumor_label: int = 2,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        lower, upper = _bounds(window)
        self.units_per_hu = 1.0 / (upper - lower)
        self.image_key, self.mask_key, self.label_key = image_key, mask_key, label_key
        self.hypodense_hu = tuple(float(v) for v in hypodense_hu)
        self.hyperdense_hu = tuple(float(v) for v in hyperdense_hu)
        self.rim_hu = tuple(float(v) for v in rim_hu)
        if not 0.0 <= hyperdense_fraction + rim_fraction <= 1.0:
            raise ValueError("hyperdense_fraction + rim_fraction must lie in [0, 1]")
        self.hyperdense_fraction = float(hyperdense_fraction)
        self.rim_fraction = float(rim_fraction)
        self.radius_px = tuple(float(v) for v in radius_px)
        self.depth_slices = tuple(float(v) for v in depth_slices)
        self.edge_px = tuple(float(v) for v in edge_px)
        self.liver_label = int(liver_label)
        self.tumor_label = int(tumor_label)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform or int(d[self.label_key]) != self.liver_label:
            return d
        mask = torch.as_tensor(d[self.mask_key])
        liver = mask[0].detach().cpu().numpy() == self.liver_label
        depth_map = ndimage.distance_transform_edt(liver)
        radius = math.exp(self.R.uniform(math.log(self.radius_px[0]), math.log(self.radius_px[1])))
        deepest = float(depth_map.max())
        radius = min(radius, deepest / 0.6)  # the centre at least 60 % of the radius inside the liver
        if radius < self.radius_px[0]:
            return d  # too little liver in this slice for the smallest lesion
        rows, cols = np.nonzero(depth_map >= min(0.6 * radius, deepest))
        pick = int(self.R.randint(len(rows)))
        profiles, core = self._profiles(d[self.image_key].shape, (rows[pick], cols[pick]), radius)
        offsets = self._offsets_hu(profiles, core)
        liver_t = torch.as_tensor(liver, dtype=torch.float32)
        image = torch.as_tensor(d[self.image_key])
        shift = torch.as_tensor(offsets * self.units_per_hu, dtype=image.dtype) * liver_t.to(image.dtype)
        d[self.image_key] = (image + shift.to(image.device)).clamp(0.0, 1.0)
        centre = profiles[profiles.shape[0] // 2]
        lesion = torch.as_tensor((centre > 0.5) & liver)
        new_mask = mask.clone()
        new_mask[0][lesion.to(mask.device)] = self.tumor_label
        d[self.mask_key] = new_mask
        label = d[self.label_key]
        d[self.label_key] = torch.as_tensor(self.tumor_label, dtype=torch.as_tensor(label).dtype)
        return d

    def _profiles(
        self, shape: Sequence[int], centre: tuple[int, int], radius: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Soft ellipse per channel (C, H, W) in [0, 1] and its normalised radial distance (C, H, W)."""
        channels, height, width = int(shape[0]), int(shape[-2]), int(shape[-1])
        semi_a = radius * self.R.uniform(0.75, 1.25)
        semi_b = radius * self.R.uniform(0.75, 1.25)
        angle = self.R.uniform(0.0, math.pi)
        depth = self.R.uniform(*self.depth_slices)
        edge = self.R.uniform(*self.edge_px)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
        dy, dx = yy - centre[0], xx - centre[1]
        u = dx * math.cos(angle) + dy * math.sin(angle)
        v = -dx * math.sin(angle) + dy * math.cos(angle)
        profiles = np.zeros((channels, height, width))
        distance = np.full((channels, height, width), np.inf)
        for c in range(channels):
            cut = 1.0 - ((c - channels // 2) / depth) ** 2
            if cut <= 0:
                continue
            scale = math.sqrt(cut)
            rho = np.sqrt((u / (semi_a * scale)) ** 2 + (v / (semi_b * scale)) ** 2)
            distance[c] = rho
            profiles[c] = 1.0 / (1.0 + np.exp(-(1.0 - rho) * radius * scale / edge))
        return profiles, distance

    def _offsets_hu(self, profiles: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """The HU offset per pixel: hypodense, hyperdense or a hypodense core in an enhancing rim."""
        kind = self.R.uniform()
        if kind < self.hyperdense_fraction:
            return profiles * self.R.uniform(*self.hyperdense_hu)
        offsets = profiles * self.R.uniform(*self.hypodense_hu)
        if kind < self.hyperdense_fraction + self.rim_fraction:
            ring = np.exp(-(((distance - 0.85) / 0.12) ** 2))
            offsets = offsets + ring * self.R.uniform(*self.rim_hu)
        return offsets
