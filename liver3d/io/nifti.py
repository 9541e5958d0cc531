"""Writing NIfTI volumes atomically with a given voxel-to-RAS affine."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from liver3d.io.atomic import atomic_path


def save_nifti(array: np.ndarray, affine: np.ndarray, path: str | Path) -> Path:
    """Save ``array`` with ``affine`` (RAS mm) as NIfTI; qform and sform both set (scanner-based, mm).

    The file appears only once complete: it is written to a temporary name and renamed.
    """
    img = nib.Nifti1Image(np.asarray(array), np.asarray(affine, dtype=np.float64))
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(img, tmp)
    return Path(path)
