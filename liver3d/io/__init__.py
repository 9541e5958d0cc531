"""Volume and 2D image I/O: readers with file-naming errors, atomic writers."""

from liver3d.io.atomic import atomic_path, write_json_atomic
from liver3d.io.images2d import read_image_2d
from liver3d.io.nifti import save_nifti
from liver3d.io.readers import VolumeError, load_volume, read_header, read_volume, require_files

__all__ = [
    "VolumeError",
    "atomic_path",
    "load_volume",
    "read_header",
    "read_image_2d",
    "read_volume",
    "require_files",
    "save_nifti",
    "write_json_atomic",
]
