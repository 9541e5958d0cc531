"""A dataset of labelled 2D images for classifiers: read and preprocessed once, augmented per item.

Every image is read at construction (:func:`~liver3d.io.images2d.read_image_2d`), so a missing, truncated or
NaN file stops the run before training with one ``ERROR <file>: <problem>`` line per file, not a traceback
from a loader worker. ``preprocessing`` (deterministic: resize, intensity scaling) runs once and is cached;
``augmentation`` runs on every access.

Item: ``image`` (C, H, W) float tensor, ``label`` (long scalar), ``image_path``, ``patient_id``,
``class_name``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from liver3d.data.classes import inverse_frequency_weights
from liver3d.errors import InputError
from liver3d.io.images2d import read_image_2d
from liver3d.io.readers import VolumeError


class ImageDataset(Dataset):
    """Images of ``entries`` (from :func:`~liver3d.data.images2d.image_datalist`).

    Args:
        channels: 1 (grey) or 3 (RGB; grey images repeated), what the network's first layer takes.
        preprocessing: a dict transform on ``{"image": (C, H, W) array}``, e.g. MONAI ``Resized`` and
            ``ScaleIntensityd``; its output must have the same shape for every image.
        augmentation: a random dict transform applied per access (training only).
    """

    def __init__(
        self,
        entries: Sequence[dict],
        channels: int = 1,
        preprocessing: Callable[[dict], dict] | None = None,
        augmentation: Callable[[dict], dict] | None = None,
    ) -> None:
        self.entries = [dict(e) for e in entries]
        self.channels = channels
        self.preprocessing = preprocessing
        self.augmentation = augmentation
        self.images: list[torch.Tensor] = []
        self.original_sizes: list[tuple[int, int]] = []  # (H, W) before preprocessing
        errors: list[VolumeError] = []
        for entry in self.entries:
            try:
                raw = read_image_2d(entry["image"], self.channels)
            except VolumeError as err:
                errors.append(err)
                continue
            self.original_sizes.append(tuple(raw.shape[-2:]))
            self.images.append(self._preprocess(raw))
        if errors:  # every unreadable image at once, before any training
            raise VolumeError(errors[0].path, errors[0].problem, [(e.path, e.problem) for e in errors])
        shapes = {tuple(img.shape) for img in self.images}
        if len(shapes) > 1:
            raise InputError(
                "preprocessing",
                f"gives images of different shapes {sorted(shapes)[:3]}; resize to one size "
                "(e.g. Resized with a fixed spatial_size)",
            )

    def prepare(self, entry: dict) -> torch.Tensor:
        """Read and preprocess one entry's image: (C, H, W) float tensor."""
        return self._preprocess(read_image_2d(entry["image"], self.channels))

    def _preprocess(self, image: np.ndarray) -> torch.Tensor:
        data = {"image": image}
        if self.preprocessing is not None:
            data = self.preprocessing(data)
        return torch.as_tensor(np.asarray(data["image"]), dtype=torch.float32)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict:
        entry = self.entries[index]
        data = {"image": self.images[index]}
        if self.augmentation is not None:
            data = self.augmentation(data)
        return {
            "image": torch.as_tensor(data["image"]).float(),
            "label": torch.tensor(int(entry["label"])),
            "image_path": entry["image"],
            "patient_id": str(entry["patient_id"]),
            "class_name": entry.get("class_name", str(entry["label"])),
        }

    @property
    def labels(self) -> np.ndarray:
        return np.array([int(e["label"]) for e in self.entries])

    def class_counts(self, num_classes: int) -> np.ndarray:
        return np.bincount(self.labels, minlength=num_classes)

    def class_weights(self, num_classes: int) -> torch.Tensor:
        """Inverse-frequency cross-entropy weights of this dataset's labels."""
        return inverse_frequency_weights(self.labels, num_classes)
