"""Seed 004's small CNN, in 2D or 3D: three conv-ReLU-maxpool blocks, flatten, dense (ReLU), dense.

Convolutions are unpadded 3x3 as in the seed (Keras ``Conv2D(32/64/128, 3)``), so a 128x128 input leaves
a 14x14x128 map; the first dense layer's width is worked out from ``input_size``. Blocks are named
``block1``..``block3`` (``block3`` is the Grad-CAM layer) and the classifier ``head``.

Example:
    >>> net = SmallCNN(spatial_dims=2, in_channels=1, num_classes=8, input_size=128)
    >>> net(torch.zeros(2, 1, 128, 128)).shape
    torch.Size([2, 8])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SmallCNN(nn.Module):
    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        num_classes: int = 8,
        input_size: int | Sequence[int] = 128,
        channels: Sequence[int] = (32, 64, 128),
        hidden: int = 128,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        conv = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
        pool = nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d
        size = [input_size] * spatial_dims if isinstance(input_size, int) else list(input_size)
        previous = in_channels
        for i, width in enumerate(channels, start=1):
            self.add_module(
                f"block{i}", nn.Sequential(conv(previous, width, 3), nn.ReLU(inplace=True), pool(2))
            )
            size = [(s - 2) // 2 for s in size]
            previous = width
        if min(size) < 1:
            raise ValueError(f"input_size {input_size} is too small for {len(channels)} conv-pool blocks")
        features = previous * int(torch.tensor(size).prod())
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(features, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self.num_blocks = len(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"block{i}")(x)
        return self.head(x)
