"""Finding checkpoints to resume from."""

from __future__ import annotations

import re
from pathlib import Path


def latest_checkpoint(ckpt_dir: str | Path, prefix: str = "checkpoint") -> str | None:
    """The ``checkpoint_epoch=N.pt`` (MONAI ``CheckpointSaver``) with the highest N in ``ckpt_dir``, or None."""
    best, best_epoch = None, -1
    for path in Path(ckpt_dir).glob(f"{prefix}*.pt"):
        match = re.search(r"(?:epoch|iteration)=(\d+)", path.name)
        if match and int(match.group(1)) > best_epoch:
            best, best_epoch = str(path), int(match.group(1))
    return best


def load_model_weights(path: str | Path, device: str | object = "cpu") -> dict:
    """The network state dict in ``path``: a ``model.pt`` from ``CheckpointSaver`` (the bare state dict) or a
    full training checkpoint (``{"model": ..., "optimizer": ...}``)."""
    import torch

    state = torch.load(str(path), map_location=device, weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    return state
