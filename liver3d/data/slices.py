"""A dataset of 2D / 2.5D axial slices cut from 3D volumes, for slice classifiers.

Volumes go through a deterministic volume transform once (load, orient, resample, window), are cut by
:class:`~liver3d.transforms.VolumeToSlices` and kept in memory; random slice-level augmentation runs per item.
Every item keeps its case, patient and slice index, so per-slice outputs (classes, CAMs) can be stacked back.

Item: ``image`` (C * context, H, W) float, ``label`` the slice class (tumor > liver > background), ``mask``
(1, H, W) label-map slice, ``slice_index``, ``case_id``, ``patient_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from liver3d.data.classes import inverse_frequency_weights
from liver3d.data.datalist import entry_case
from liver3d.transforms.slicing import VolumeToSlices


class SliceDataset(Dataset):
    """Slices of ``entries`` (dicts with ``image`` and ``label``) after ``volume_transform``.

    Args:
        volume_transform: maps an entry to channel-first ``image`` and ``label`` volumes (axial axis last).
        context: slices per sample (1: 2D, 3/5: 2.5D).
        slice_transform: optional per-item transform of the slice dict (augmentation, resizing).
        background_fraction: keep at most this fraction of background slices per volume (None keeps all),
            chosen evenly along the volume so the choice is reproducible.
        min_pixels: liver/tumor pixels a slice needs to count as liver/tumor (ignores specks).
    """

    def __init__(
        self,
        entries: Sequence[dict],
        volume_transform: Callable[[dict], dict],
        context: int = 1,
        slice_transform: Callable[[dict], dict] | None = None,
        background_fraction: float | None = None,
        min_pixels: int = 1,
    ) -> None:
        self.slice_transform = slice_transform
        slicer = VolumeToSlices(context=context, min_pixels=min_pixels)
        self.items: list[dict] = []
        for entry in entries:
            volume = volume_transform(dict(entry))
            sliced = slicer(volume["image"], volume["label"])
            keep = _keep_indices(sliced["slice_label"].numpy(), background_fraction)
            case = entry_case(entry)
            for n in keep:
                self.items.append(
                    {
                        "image": sliced["image"][n].float(),
                        "label": torch.tensor(int(sliced["slice_label"][n])),
                        "mask": sliced["seg"][n],
                        "slice_index": int(sliced["slice_index"][n]),
                        "case_id": case,
                        "patient_id": str(entry.get("patient_id", case)),
                    }
                )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.items[index])
        return self.slice_transform(item) if self.slice_transform is not None else item

    @property
    def labels(self) -> np.ndarray:
        return np.array([int(item["label"]) for item in self.items])

    def class_counts(self, num_classes: int = 3) -> np.ndarray:
        return np.bincount(self.labels, minlength=num_classes)

    def class_weights(self, num_classes: int = 3) -> torch.Tensor:
        """Inverse-frequency weights for cross-entropy, normalised to mean 1 (absent classes get 0)."""
        return inverse_frequency_weights(self.labels, num_classes)


def _keep_indices(slice_labels: np.ndarray, background_fraction: float | None) -> list[int]:
    indices = np.arange(len(slice_labels))
    if background_fraction is None:
        return indices.tolist()
    background = indices[slice_labels == 0]
    keep_bg = int(round(background_fraction * len(background)))
    chosen = background[np.linspace(0, len(background) - 1, keep_bg).round().astype(int)] if keep_bg else []
    return sorted(set(indices[slice_labels != 0].tolist()) | set(np.asarray(chosen).tolist()))
