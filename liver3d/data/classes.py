"""Class labels of whole volumes (tumor present or not) and inverse-frequency class weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from liver3d.io.readers import read_volume
from liver3d.labels import load_label_table, tumor_present  # noqa: F401  (re-exported)


def volume_classes(entries: Sequence[dict], min_voxels: int = 1, label_key: str = "label") -> list[int]:
    """Tumor presence of every entry, read from its label file."""
    return [tumor_present(read_volume(e[label_key]).array, min_voxels) for e in entries]


def inverse_frequency_weights(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """Cross-entropy weights proportional to 1 / class frequency, mean 1 over present classes (absent: 0)."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=num_classes).astype(float)
    weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / num_classes, 0.0)
    present = weights > 0
    weights[present] /= weights[present].mean()
    return torch.tensor(weights, dtype=torch.float32)
