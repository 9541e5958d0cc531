"""Probabilities to label maps without ``torch.argmax``'s strided pass over the channel axis.

On a (3, 240, 240, 114) CPU tensor ``AsDiscrete(argmax=True)`` took 0.72 s; a running maximum over the
channels takes 0.09 s and gives the same labels (ties go to the lower channel, as with ``argmax``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform


class ChannelArgmax(Transform):
    """(C, *spatial) scores -> (1, *spatial) uint8 labels (the index of the largest channel)."""

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        plain = scores.as_tensor() if isinstance(scores, MetaTensor) else torch.as_tensor(scores)
        if plain.shape[0] > 255:
            raise ValueError(f"{plain.shape[0]} channels do not fit uint8 labels")
        best = plain[0].clone()
        labels = torch.zeros(plain.shape[1:], dtype=torch.uint8, device=plain.device)
        for c in range(1, plain.shape[0]):
            better = plain[c] > best
            labels[better] = c
            torch.maximum(best, plain[c], out=best)
        labels = labels[None]
        if isinstance(scores, MetaTensor):
            labels = MetaTensor(labels, meta=scores.meta, applied_operations=scores.applied_operations)
        return labels


class ChannelArgmaxd(MapTransform):
    """Dictionary version of :class:`ChannelArgmax`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.argmax = ChannelArgmax()

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
        from liver3d.data.classes import tumor_present

        d = dict(data)
        for key in self.key_iterator(d):
            label = d[key]
            plain = label.as_tensor() if isinstance(label, MetaTensor) else torch.as_tensor(label)
            d[key] = torch.tensor(tumor_present(plain, self.min_voxels), dtype=torch.long)
        return d
