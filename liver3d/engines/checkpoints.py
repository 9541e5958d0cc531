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
    full training checkpoint (``{"model": ..., "optimizer": ...}``).

    Read with :func:`liver3d.networks.weights.read_weights` (weights-only: a file holding code is refused
    with a one-line :class:`~liver3d.networks.weights.WeightsError`); tensors are moved to ``device``.
    """
    from liver3d.networks.weights import read_weights

    return {k: v.to(device) for k, v in read_weights(path).items()}
