"""Gzipped 3D NIfTI voxels decoded by SimpleITK, for MONAI's ``NibabelReader`` and ``read_volume``.

Python's ``gzip`` (nibabel) inflates a 512x512x300 int16 CT about half as fast as ITK's C++ reader; everything
else stays nibabel's: the header, the affine (qform/sform as nibabel chooses), the metadata MONAI builds from
them and the voxel order (SimpleITK's (Z, Y, X) array is transposed back to NIfTI's (X, Y, Z)). Anything
unusual (not gzipped, not 3D, float voxels, a shape that differs, scaled integers, a truncated stream, a file
SimpleITK refuses) is left to nibabel, which also names the precise problem of a damaged file.
"""

from __future__ import annotations

import numpy as np
from monai.data import NibabelReader


def sitk_voxels(path, img) -> np.ndarray | None:
    """The voxels of ``path`` (a nibabel image ``img`` already holds its header) via SimpleITK, or None."""
    name = str(path)
    if len(img.shape) != 3 or not name.lower().endswith(".nii.gz"):
        return None
    if not np.issubdtype(img.get_data_dtype(), np.integer):
        return None  # float voxels stay nibabel's: SimpleITK turns NaN into 0, which would hide a damaged CT
    if not _complete_gzip(name, img):
        return None  # SimpleITK reads a truncated stream without complaint: nibabel names the damage
    import SimpleITK as sitk

    try:
        array = sitk.GetArrayFromImage(sitk.ReadImage(name)).transpose(2, 1, 0)
    except (RuntimeError, ValueError):
        return None
    if array.shape != tuple(img.shape):
        return None
    slope, inter = img.dataobj.slope, img.dataobj.inter
    if not (slope in (None, 1.0) and inter in (None, 0.0)) and not np.issubdtype(array.dtype, np.floating):
        return None  # let nibabel apply the scaling exactly
    return array


def _complete_gzip(name: str, img) -> bool:
    """True when the gzip trailer's ISIZE equals the header's offset plus voxel bytes (mod 2**32).

    A truncated or cut file ends in compressed data, whose last four bytes match with probability 2**-32.
    """
    try:
        expected = int(img.dataobj.offset) + int(np.prod(img.shape)) * np.dtype(img.get_data_dtype()).itemsize
        with open(name, "rb") as f:
            f.seek(-4, 2)
            isize = int.from_bytes(f.read(4), "little")
    except (OSError, ValueError, AttributeError):
        return False
    return isize == expected % 2**32


class FastNiftiReader(NibabelReader):
    """``NibabelReader`` with SimpleITK decoding of ``.nii.gz`` 3D volumes (same array, same metadata).

    The voxels are read from the file the nibabel image ``img`` was loaded from, never from the ``filename``
    MONAI passes: that one comes from ``self.filenames``, which the last ``read`` set, and one reader instance
    serves every thread of a ``CacheDataset`` fill. Taking it would give a case another case's voxels under its
    own header whenever two fills interleave.
    """

    def _get_array_data(self, img, filename):
        own_file = img.get_filename() if hasattr(img, "get_filename") else None
        array = None if self.to_gpu or own_file is None else sitk_voxels(own_file, img)
        return super()._get_array_data(img, filename) if array is None else array
