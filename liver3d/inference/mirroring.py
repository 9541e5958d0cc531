"""Mirroring test-time augmentation (nnU-Net's default at inference) as a sliding-window predictor.

``MirroredPredictor(network, axes=(0, 1, 2))`` runs ``network`` on the window and on its mirror images over
every non-empty subset of ``axes`` (spatial axes of a (B, C, X, Y, Z) window: 2**len(axes) passes in all),
mirrors each output back and returns the mean of the logits, as nnU-Net v2's predictor does. With ``axes=()``
it is the network itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import torch


def mirror_subsets(axes: Sequence[int]) -> list[tuple[int, ...]]:
    """Every subset of ``axes`` (the empty one first): the flips one mirrored prediction averages."""
    axes = tuple(sorted(set(int(a) for a in axes)))
    if any(a not in (0, 1, 2) for a in axes):
        raise ValueError(f"mirror axes must be spatial axes 0, 1, 2, got {axes}")
    return [subset for size in range(len(axes) + 1) for subset in combinations(axes, size)]


class MirroredPredictor:
    """Mean logits of ``network`` over the mirror images of its input (see the module docstring)."""

    def __init__(self, network: torch.nn.Module, axes: Sequence[int] = (0, 1, 2)) -> None:
        self.network = network
        self.subsets = mirror_subsets(axes)

    def __call__(self, window: torch.Tensor) -> torch.Tensor:
        total = None
        for subset in self.subsets:
            dims = [2 + a for a in subset]
            x = torch.flip(window, dims) if dims else window
            y = self.network(x)
            y = torch.flip(y, dims) if dims else y
            total = y if total is None else total + y
        return total / len(self.subsets)
