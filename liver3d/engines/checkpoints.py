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
