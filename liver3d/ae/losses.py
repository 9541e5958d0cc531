"""Reconstruction loss for AutoEncoder and VarAutoEncoder outputs (the target is the input patch)."""

from __future__ import annotations

import torch
from torch import nn


class ReconstructionLoss(nn.Module):
    """Mean squared error of the reconstruction; with VarAutoEncoder outputs (recon, mu, logvar, z) plus
    ``beta`` times the KL divergence to N(0, I), averaged over the batch."""

    def __init__(self, beta: float = 1e-3) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, output, target: torch.Tensor) -> torch.Tensor:
        if isinstance(output, (tuple, list)):
            recon, mu, logvar = output[0], output[1], output[2]
            kld = -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1))
            return torch.mean((recon - target) ** 2) + self.beta * kld
        return torch.mean((output - target) ** 2)
