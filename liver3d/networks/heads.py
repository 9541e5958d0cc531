"""Classifier heads shared by the 2D and 3D networks."""

from __future__ import annotations

from torch import nn


def mlp_head(
    in_features: int,
    num_classes: int,
    hidden: int = 256,
    dropout: float | tuple[float, float] = (0.5, 0.3),
) -> nn.Sequential:
    """Seed 003's head on pooled features: BatchNorm -> dropout -> dense ``hidden`` (ReLU) -> dropout -> dense.

    Input (B, in_features) after global pooling and flattening. ``dropout``: one rate for both dropout
    layers (seed 003: 0.5, searched over 0.3-0.7) or a pair.
    """
    if isinstance(dropout, (int, float)):
        dropout = (float(dropout), float(dropout))
    return nn.Sequential(
        nn.BatchNorm1d(in_features),
        nn.Dropout(dropout[0]),
        nn.Linear(in_features, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout[1]),
        nn.Linear(hidden, num_classes),
    )
