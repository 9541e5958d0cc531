"""Losses the bundles name in config, where MONAI's need an adapter."""

from __future__ import annotations

import torch
from monai.losses import DeepSupervisionLoss


class StackedDeepSupervisionLoss(DeepSupervisionLoss):
    """MONAI's ``DeepSupervisionLoss`` for networks that stack their heads, as ``DynUNet(deep_supervision=True)``
    does in training: its output (B, 1 + deep_supr_num, C, *spatial) is split into the list of heads
    (full resolution first) that ``DeepSupervisionLoss`` weights (``weight_mode`` "exp": 1, 0.5, 0.25, ...; the
    labels are resized to each head, nearest). A plain (B, C, *spatial) output, as in evaluation, is scored by
    ``loss`` alone.

    Example (bundle config): ``{"_target_": "liver3d.losses.StackedDeepSupervisionLoss",
    "loss": {"_target_": "DiceCELoss", "to_onehot_y": true, "softmax": true}}``
    """

    def forward(self, input: torch.Tensor | list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        if isinstance(input, torch.Tensor) and input.ndim == target.ndim + 1:
            input = list(torch.unbind(input, dim=1))
        return super().forward(input, target)
