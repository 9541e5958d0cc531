"""Probabilities to label maps without ``torch.argmax``'s strided pass over the channel axis, and the label-map
steps that follow it (small lesions, enclosed holes).

On a (3, 240, 240, 114) CPU tensor ``AsDiscrete(argmax=True)`` took 0.72 s; a running maximum over the
channels takes 0.09 s and gives the same labels (ties go to the lower channel, as with ``argmax``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from liver3d.geometry import mask_bounding_box


def _plain(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor without MONAI's metadata (indexing a plain tensor is faster and keeps no trace)."""
    return tensor.as_tensor() if isinstance(tensor, MetaTensor) else torch.as_tensor(tensor)


def _with_meta_of(out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``out`` with ``like``'s metadata and transform trace when ``like`` is a MetaTensor."""
    if isinstance(like, MetaTensor):
        return MetaTensor(out, meta=like.meta, applied_operations=like.applied_operations)
    return out


class ChannelArgmax(Transform):
    """(C, *spatial) scores -> (1, *spatial) uint8 labels (the index of the largest channel).

    ``weights`` (one per channel, default all 1) multiply the channels before the comparison: on probabilities a
    weighted argmax, the decision for other class priors. Channel 0 is the background, and its weight only moves
    the organ's outline: a voxel won from the background only thanks to a background weight below 1 takes label
    ``grown_label`` (the liver), whichever class won it, so that weight never grows a lesion. A class weight
    above 1 (the tumor's) lets its class win against the liver and against the unweighted background at a lower
    probability."""

    def __init__(self, weights: Sequence[float] | None = None, grown_label: int = 1) -> None:
        if weights is not None and not all(w > 0 for w in weights):
            raise ValueError(f"channel weights must be > 0, got {list(weights)}")
        self.weights = (
            None if weights is None or all(w == 1 for w in weights) else [float(w) for w in weights]
        )
        self.grown_label = grown_label

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        plain = _plain(scores)
        if plain.shape[0] > 255:
            raise ValueError(f"{plain.shape[0]} channels do not fit uint8 labels")
        if self.weights is not None and len(self.weights) != plain.shape[0]:
            raise ValueError(f"{len(self.weights)} channel weights for {plain.shape[0]} channels")
        weights = self.weights
        best = plain[0] * weights[0] if weights else plain[0].clone()
        labels = torch.zeros(plain.shape[1:], dtype=torch.uint8, device=plain.device)
        for c in range(1, plain.shape[0]):
            score = plain[c] * weights[c] if weights else plain[c]
            better = score > best
            labels[better] = c
            torch.maximum(best, score, out=best)
        if weights and weights[0] < 1.0:
            labels[(labels > 0) & (best <= plain[0])] = self.grown_label
        return _with_meta_of(labels[None], scores)


class ChannelArgmaxd(MapTransform):
    """Dictionary version of :class:`ChannelArgmax`."""

    def __init__(
        self, keys: KeysCollection, weights: Sequence[float] | None = None, allow_missing_keys: bool = False
    ):
        super().__init__(keys, allow_missing_keys)
        self.argmax = ChannelArgmax(weights)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.argmax(d[key])
        return d


class TumorPresenced(MapTransform):
    """Replace the label map under ``keys`` by the volume's class: 1 if it holds >= ``min_voxels`` tumor
    voxels, else 0 (a long scalar tensor, ready for cross-entropy). Spatial transforms go before this."""

    def __init__(self, keys: KeysCollection = "label", min_voxels: int = 1, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.min_voxels = min_voxels

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        from liver3d.labels import tumor_present

        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = torch.tensor(tumor_present(_plain(d[key]), self.min_voxels), dtype=torch.long)
        return d


class RemoveSmallLesions(Transform):
    """Tumor components (26-connected, as the lesion evaluation counts them) smaller than ``min_volume_ml``
    become ``fill`` (liver: a small false lesion lies in the liver). Works on a (1, X, Y, Z) label map; the
    voxel volume comes from the MetaTensor's affine (1 mm^3 when it has none). ``min_volume_ml=0`` keeps all.
    """

    def __init__(self, min_volume_ml: float = 0.0, tumor: int | None = None, fill: int | None = None) -> None:
        from liver3d.labels import load_label_table

        if min_volume_ml < 0:
            raise ValueError(f"min_volume_ml must be >= 0, got {min_volume_ml}")
        table = load_label_table()
        self.min_volume_ml = float(min_volume_ml)
        self.tumor = table.value("tumor") if tumor is None else tumor
        self.fill = table.value("liver") if fill is None else fill

    def __call__(self, labels: torch.Tensor) -> torch.Tensor:
        if self.min_volume_ml <= 0:
            return labels
        from liver3d.evaluation.lesions import components
        from liver3d.geometry import voxel_spacing

        plain = _plain(labels)
        voxel_ml = float(np.prod(voxel_spacing(labels))) / 1000.0
        numbered, count = components((plain[0] == self.tumor).cpu().numpy())
        if count == 0:
            return labels
        sizes = np.bincount(numbered.ravel(), minlength=count + 1) * voxel_ml
        small = sizes < self.min_volume_ml
        small[0] = False
        if not small.any():
            return labels
        out = plain.clone()
        out[0][torch.as_tensor(small[numbered], device=plain.device)] = self.fill
        return _with_meta_of(out, labels)


class RemoveSmallLesionsd(MapTransform):
    """Dictionary version of :class:`RemoveSmallLesions`."""

    def __init__(self, keys: KeysCollection, min_volume_ml: float = 0.0, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.remove = RemoveSmallLesions(min_volume_ml)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.remove(d[key])
        return d


class FillLiverHoles(Transform):
    """Background voxels enclosed in 3D by the liver-including-tumor mask become ``fill`` (liver).

    Reference liver masks hold no enclosed cavities: LiTS and TotalSegmentator count intrahepatic vessels and
    lesions as liver, and liver3d's phantoms label their vessels liver (the vessels at the hilum, which are not,
    reach the outside). A background pocket that the predicted liver closes on every side is therefore a miss.
    A hole is background not 6-connected to the volume's border through other background (scipy's
    ``binary_fill_holes``). MONAI's ``FillHoles`` fills label by label, so filling the liver would paint liver
    over every tumor inside it; this changes background voxels only. Works on a (1, X, Y, Z) label map.
    """

    def __init__(self, fill: int | None = None) -> None:
        from liver3d.labels import load_label_table

        self.fill = load_label_table().value("liver") if fill is None else fill

    def __call__(self, labels: torch.Tensor) -> torch.Tensor:
        from scipy.ndimage import binary_fill_holes

        plain = _plain(labels)
        foreground = (plain[0] > 0).cpu().numpy()
        if not foreground.any():
            return labels
        # Only the foreground's box (one voxel wider, where the volume allows) can hold a hole: outside it all
        # is background reaching the border. 0.2 s instead of 3.9 s on a 512x512x300 CT.
        box = mask_bounding_box(foreground, [1, 1, 1])
        inside = foreground[box]
        holes = binary_fill_holes(inside) & ~inside
        if not holes.any():
            return labels
        out = plain.clone()
        out[0][box][torch.as_tensor(holes, device=plain.device)] = self.fill
        return _with_meta_of(out, labels)


class FillLiverHolesd(MapTransform):
    """Dictionary version of :class:`FillLiverHoles`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False):
        super().__init__(keys, allow_missing_keys)
        self.fill_holes = FillLiverHoles()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.fill_holes(d[key])
        return d
