"""Scalar targets for attributing a segmentation network's output (seed 001 explained the mean tumor probability)."""

from __future__ import annotations

import torch
from torch import nn


class MeanClassProbability(nn.Module):
    """Wrap a segmentation network: (B, C_in, *spatial) -> (B, 1), the mean softmax probability of
    ``class_index`` over ``region`` (a (1 or B, 1, *spatial) mask, e.g. the predicted tumor) or over all voxels.

    Attribution methods then explain one number per image, as for a classifier with one output.
    """

    def __init__(self, network: nn.Module, class_index: int, region: torch.Tensor | None = None) -> None:
        super().__init__()
        self.network, self.class_index = network, class_index
        self.register_buffer("region", None if region is None else region.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prob = torch.softmax(self.network(x), dim=1)[:, self.class_index : self.class_index + 1]
        if self.region is None:
            return prob.flatten(1).mean(1, keepdim=True)
        region = self.region.to(prob.device).expand_as(prob)
        return (prob * region).flatten(1).sum(1, keepdim=True) / region.flatten(1).sum(1, keepdim=True).clamp(
            min=1
        )
