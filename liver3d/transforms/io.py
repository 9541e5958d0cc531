"""Loading and validating CT/label pairs inside MONAI pipelines, with errors that name the file.

``LoadVolumed`` is MONAI's ``LoadImaged`` whose failures are re-read to say what is wrong with the file
(missing, truncated gzip, bad header) instead of a reader traceback. ``ValidateCTd`` runs after
``EnsureChannelFirstd`` and rejects 4D volumes, NaN, image/label shape or geometry mismatches, label
values outside the label table and empty labels.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import LoadImaged, MapTransform

from liver3d.io.dicom_series import MainSeriesITKReader
from liver3d.io.fast_nifti import FastNiftiReader
from liver3d.io.readers import VolumeError, explain_load_failure
from liver3d.labels import load_label_table


class LoadVolumed(LoadImaged):
    """``LoadImaged`` (NIfTI via nibabel, ``.nii.gz`` voxels decoded by SimpleITK, DICOM series folders via ITK)
    that raises :class:`VolumeError`."""

    def __init__(
        self,
        keys: KeysCollection,
        image_only: bool = True,
        dtype=np.float32,
        allow_missing_keys: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(
            keys, image_only=image_only, dtype=dtype, allow_missing_keys=allow_missing_keys, **kwargs
        )
        if "reader" not in kwargs:
            self._loader.register(MainSeriesITKReader())  # a DICOM folder's largest series, not ITK's first
            self._loader.register(
                FastNiftiReader()
            )  # .nii.gz voxels decoded by SimpleITK (same array, faster)

    def __call__(self, data, reader=None):
        try:
            return super().__call__(data, reader)
        except VolumeError:
            raise
        except Exception as err:
            d = dict(data)
            paths = [d[k] for k in self.key_iterator(d) if isinstance(d[k], (str, Path))]
            explained = [explain_load_failure(p, err) for p in paths]
            # The first file with a problem of its own, else the loader's message for all of them.
            precise = next((e for e in explained if not e.problem.startswith("cannot load")), None)
            if precise is not None:
                raise precise from err
            where = ", ".join(str(p) for p in paths) or "<in-memory data>"
            raise VolumeError(where, f"cannot load ({str(err).splitlines()[0][:200]})") from err


def source_name(x, fallback: str = "<in-memory volume>") -> str:
    """The file a loaded volume came from (its ``filename_or_obj``), for error lines; ``fallback`` without one."""
    meta = getattr(x, "meta", {}) or {}
    return str(meta.get("filename_or_obj", fallback))


class ValidateCTd(MapTransform):
    """Reject inputs a model must not see; each error is a :class:`VolumeError` naming the file.

    Expects channel-first tensors (after ``EnsureChannelFirstd``): image (1, X, Y, Z), label (1, X, Y, Z).
    """

    def __init__(
        self,
        image_key: str = "image",
        label_key: str | None = "label",
        allowed_labels: Sequence[int] | None = None,
        allow_empty_label: bool = False,
        affine_tolerance_mm: float = 1e-3,
        allow_missing_keys: bool = True,
    ) -> None:
        keys = [image_key] + ([label_key] if label_key else [])
        super().__init__(keys, allow_missing_keys)
        self.image_key, self.label_key = image_key, label_key
        self.allowed = tuple(allowed_labels) if allowed_labels is not None else load_label_table().values
        self.allow_empty_label = allow_empty_label
        self.tolerance = affine_tolerance_mm

    def _check_volume(self, x: torch.Tensor, role: str) -> None:
        if x.ndim != 4:
            raise VolumeError(
                source_name(x),
                f"{role} has shape {tuple(x.shape)}: expected (1, X, Y, Z) after EnsureChannelFirstd",
            )
        if x.shape[0] != 1:
            raise VolumeError(
                source_name(x), f"4D {role}: {x.shape[0]} volumes in one file; expected one 3D volume"
            )

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        image = d[self.image_key]
        self._check_volume(image, "image")
        if torch.is_floating_point(image) and not bool(torch.isfinite(image).all()):
            n = int((~torch.isfinite(image)).sum())
            raise VolumeError(source_name(image), f"{n} NaN or infinite voxels in the image")
        if not self.label_key or self.label_key not in d:
            return d
        label = d[self.label_key]
        self._check_volume(label, "label")
        if label.shape[1:] != image.shape[1:]:
            raise VolumeError(
                source_name(label),
                f"label shape {tuple(label.shape[1:])} does not match image shape {tuple(image.shape[1:])} ({source_name(image)})",
            )
        ia, la = getattr(image, "affine", None), getattr(label, "affine", None)
        if (
            ia is not None
            and la is not None
            and not torch.allclose(
                torch.as_tensor(ia, dtype=torch.float64),
                torch.as_tensor(la, dtype=torch.float64),
                atol=self.tolerance,
            )
        ):
            diff = float(
                (torch.as_tensor(ia, dtype=torch.float64) - torch.as_tensor(la, dtype=torch.float64))
                .abs()
                .max()
            )
            raise VolumeError(
                source_name(label),
                f"label geometry differs from the image's (affine off by up to {diff:.3g} mm) ({source_name(image)})",
            )
        values = torch.unique(label.as_subclass(torch.Tensor) if hasattr(label, "as_subclass") else label)
        if torch.is_floating_point(values) and not bool((values == values.round()).all()):
            raise VolumeError(source_name(label), "label map holds non-integer values (a probability map?)")
        unexpected = sorted(set(int(v) for v in values.tolist()) - set(self.allowed))
        if unexpected:
            raise VolumeError(
                source_name(label), f"label values {unexpected} outside the label table {list(self.allowed)}"
            )
        if not self.allow_empty_label and int(values.max()) == 0:
            raise VolumeError(source_name(label), "label map is empty (background only, no liver)")
        return d
