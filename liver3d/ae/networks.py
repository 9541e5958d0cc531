"""Using MONAI's AutoEncoder and VarAutoEncoder on patches: a 2D net on (B, C, X, Y, 1) slabs, the
reconstruction of either kind, and their latent vectors."""

from __future__ import annotations

import torch
from torch import nn


class SliceWise2D(nn.Module):
    """Run a 2D network on (B, C, X, Y, 1) inputs and give (B, C', X, Y, 1): 2D patch models then fit the same
    3D patch sampling, sliding-window inference and inversion as 3D ones."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor):
        out = self.network(x[..., 0])
        if isinstance(out, (tuple, list)):
            return (out[0][..., None], *out[1:])
        return out[..., None]


def reconstruction(output) -> torch.Tensor:
    """The reconstruction in a network's output (VarAutoEncoder returns (recon, mu, logvar, z))."""
    return output[0] if isinstance(output, (tuple, list)) else output


def latent_vectors(network: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, D) latent codes: VarAutoEncoder's mean, or AutoEncoder's bottleneck feature map flattened."""
    inner = network.network if isinstance(network, SliceWise2D) else network
    if isinstance(network, SliceWise2D):
        x = x[..., 0]
    if hasattr(inner, "encode_forward"):  # VarAutoEncoder
        mu, _ = inner.encode_forward(x)
        return mu.flatten(1)
    return inner.intermediate(inner.encode(x)).flatten(1)


def image_as_target(batchdata: dict, device=None, non_blocking: bool = False, **kwargs):
    """``prepare_batch`` for MONAI engines training an autoencoder: the input patch is also the target."""
    x = batchdata["image"].to(device=device, non_blocking=non_blocking, **kwargs)
    return x, x


def reconstruction_and_input(output: dict):
    """Ignite ``output_transform`` for reconstruction metrics on an undecollated engine output."""
    return reconstruction(output["pred"]), output["label"]
