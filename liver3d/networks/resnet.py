"""ResNet 18/34/50 in 2D and 3D: MONAI's ResNet, set up so torchvision's weights load key for key.

``conv1`` stride 2 and bias-free shortcut convolutions match torchvision's layout; ``head="mlp"`` swaps the final
``fc`` for seed 003's BN-dropout-256-dropout head.
"""

from __future__ import annotations

from monai.networks.nets import ResNet

from liver3d.networks.heads import mlp_head

_LAYOUT = {
    18: ("basic", [2, 2, 2, 2]),
    34: ("basic", [3, 4, 6, 3]),
    50: ("bottleneck", [3, 4, 6, 3]),
}


def resnet(
    depth: int = 50,
    spatial_dims: int = 2,
    in_channels: int = 3,
    num_classes: int = 3,
    head: str = "linear",
    head_hidden: int = 256,
    head_dropout: float | tuple[float, float] = (0.5, 0.3),
) -> ResNet:
    """A ResNet-``depth`` classifier for (B, C, H, W) or (B, C, D, H, W) inputs.

    ``head_hidden`` and ``head_dropout`` size the ``"mlp"`` head (see :func:`~liver3d.networks.mlp_head`).
    """
    if depth not in _LAYOUT:
        raise ValueError(f"ResNet depth must be one of {sorted(_LAYOUT)}, got {depth}")
    block, layers = _LAYOUT[depth]
    net = ResNet(
        block=block,
        layers=layers,
        block_inplanes=[64, 128, 256, 512],
        spatial_dims=spatial_dims,
        n_input_channels=in_channels,
        conv1_t_size=7,
        conv1_t_stride=2,
        bias_downsample=False,
        num_classes=num_classes,
    )
    if head == "mlp":
        net.fc = mlp_head(net.fc.in_features, num_classes, head_hidden, head_dropout)
    elif head != "linear":
        raise ValueError(f"head must be 'linear' or 'mlp', got {head!r}")
    return net
