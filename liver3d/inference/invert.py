"""Maps computed on a preprocessed volume (CAMs, attributions, probabilities) taken back to the input's grid."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Invertd


class MapsToInputGrid:
    """Undo the spatial steps of ``preprocessing`` (orientation, spacing, crop, resize; MONAI ``Invertd`` with
    linear interpolation) for float maps (C, *preprocessed shape) computed on ``sample["image"]``.

    Returns the maps on the input grid (C, *input shape) and the input's affine (RAS mm).
    """

    def __init__(self, preprocessing: Callable, image_key: str = "image") -> None:
        self.image_key = image_key
        self.inverter = Invertd(
            keys="maps", transform=preprocessing, orig_keys=image_key, nearest_interp=False, to_tensor=True
        )

    def __call__(self, sample: dict, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image = sample[self.image_key]
        d = dict(sample)
        d["maps"] = MetaTensor(torch.as_tensor(np.asarray(maps, dtype=np.float32)), meta=dict(image.meta))
        d["maps"].applied_operations = []
        back = self.inverter(d)["maps"]
        affine = np.asarray(torch.as_tensor(image.meta["original_affine"]), dtype=np.float64)
        shape = tuple(int(s) for s in np.asarray(image.meta["spatial_shape"]).reshape(-1)[:3])
        out = np.asarray(back.detach().cpu(), dtype=np.float32)
        if out.shape[1:] != shape:
            raise RuntimeError(f"maps on {out.shape[1:]} after inversion, the input grid is {shape}")
        return out, affine
