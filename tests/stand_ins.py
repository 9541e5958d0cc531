"""Network stand-ins for cascade tests: outputs that make the stage logic visible."""

from __future__ import annotations

import torch


class Bright(torch.nn.Module):
    """Stage 1 stand-in: liver wherever the input is bright."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 3, *x.shape[2:])
        logits[:, 1] = 10 * x[:, 0] - 5
        return logits


class TumorEverywhere(torch.nn.Module):
    """Stage 2 stand-in: tumor everywhere it is run."""

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 3, *x.shape[2:])
        logits[:, 2] = 5.0
        return logits
