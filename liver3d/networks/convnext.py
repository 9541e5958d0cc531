"""ConvNeXt (Liu et al., 2022) in 2D and 3D; MONAI has none.

Module names follow torchvision's ``convnext_*`` so a torchvision state dict loads key for key (in 3D after
inflation, see :mod:`liver3d.networks.pretrained`). Block: depthwise 7x7(x7) conv -> LayerNorm -> Linear 4x ->
GELU -> Linear -> layer scale -> stochastic depth, with a residual connection.

Example:
    >>> net = ConvNeXt.from_preset("tiny", spatial_dims=3, in_channels=1, num_classes=2)
    >>> net(torch.zeros(1, 1, 64, 64, 32)).shape
    torch.Size([1, 2])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from liver3d.networks.heads import mlp_head

PRESETS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "tiny": ((3, 3, 9, 3), (96, 192, 384, 768)),
    "small": ((3, 3, 27, 3), (96, 192, 384, 768)),
    "base": ((3, 3, 27, 3), (128, 256, 512, 1024)),
}


def _conv(spatial_dims: int):
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


class ChannelsFirstLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of (B, C, *spatial) tensors (torchvision's ``LayerNorm2d``, any rank)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.movedim(x, 1, -1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return torch.movedim(x, -1, 1)


class ToChannelsLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.movedim(x, 1, -1)


class ToChannelsFirst(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.movedim(x, -1, 1)


class StochasticDepth(nn.Module):
    """Drop the residual branch per sample with probability ``p`` while training (rescaled to keep the mean)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class CNBlock(nn.Module):
    def __init__(
        self, dim: int, spatial_dims: int, layer_scale: float = 1e-6, drop_path: float = 0.0
    ) -> None:
        super().__init__()
        self.block = nn.Sequential(
            _conv(spatial_dims)(dim, dim, kernel_size=7, padding=3, groups=dim),
            ToChannelsLast(),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            ToChannelsFirst(),
        )
        self.layer_scale = nn.Parameter(torch.full((dim,) + (1,) * spatial_dims, layer_scale))
        self.stochastic_depth = StochasticDepth(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.stochastic_depth(self.layer_scale * self.block(x))


class ConvNeXt(nn.Module):
    """ConvNeXt classifier for (B, C, H, W) or (B, C, D, H, W) inputs.

    Args:
        depths, dims: blocks and channels per stage (see ``PRESETS``).
        head: "linear" (LayerNorm + Linear, as published) or "mlp" (seed 003's BN-dropout-256-dropout head).
        drop_path: stochastic-depth rate of the last block (linearly increasing from 0).
    """

    def __init__(
        self,
        depths: Sequence[int] = (3, 3, 9, 3),
        dims: Sequence[int] = (96, 192, 384, 768),
        spatial_dims: int = 2,
        in_channels: int = 3,
        num_classes: int = 1000,
        drop_path: float = 0.1,
        layer_scale: float = 1e-6,
        head: str = "linear",
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        conv = _conv(spatial_dims)
        layers: list[nn.Module] = [
            nn.Sequential(
                conv(in_channels, dims[0], kernel_size=4, stride=4), ChannelsFirstLayerNorm(dims[0], eps=1e-6)
            )
        ]
        rates = torch.linspace(0, drop_path, sum(depths)).tolist()
        index = 0
        for stage, (depth, dim) in enumerate(zip(depths, dims)):
            layers.append(
                nn.Sequential(
                    *[CNBlock(dim, spatial_dims, layer_scale, rates[index + i]) for i in range(depth)]
                )
            )
            index += depth
            if stage < len(depths) - 1:
                layers.append(
                    nn.Sequential(
                        ChannelsFirstLayerNorm(dim, eps=1e-6),
                        conv(dim, dims[stage + 1], kernel_size=2, stride=2),
                    )
                )
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1) if spatial_dims == 2 else nn.AdaptiveAvgPool3d(1)
        if head == "linear":
            self.classifier = nn.Sequential(
                ChannelsFirstLayerNorm(dims[-1], eps=1e-6), nn.Flatten(1), nn.Linear(dims[-1], num_classes)
            )
        elif head == "mlp":
            self.classifier = nn.Sequential(nn.Flatten(1), mlp_head(dims[-1], num_classes))
        else:
            raise ValueError(f"head must be 'linear' or 'mlp', got {head!r}")
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @classmethod
    def from_preset(cls, name: str = "tiny", **kwargs) -> ConvNeXt:
        if name not in PRESETS:
            raise ValueError(f"unknown ConvNeXt preset {name!r}; presets: {', '.join(PRESETS)}")
        depths, dims = PRESETS[name]
        return cls(depths=depths, dims=dims, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def convnext(preset: str = "tiny", **kwargs) -> ConvNeXt:
    """``ConvNeXt.from_preset`` as a function, for bundle configs (``"_target_": "liver3d.networks.convnext"``)."""
    return ConvNeXt.from_preset(preset, **kwargs)
