"""Reading CT volumes and label maps with their geometry, with errors that name the file and the problem.

NIfTI (``.nii``, ``.nii.gz``) is read with nibabel; a DICOM series (a folder of slices: its largest series, with
evenly spaced slices, :mod:`liver3d.io.dicom_series`), NRRD and MHA through MONAI's ITK reader.
:func:`load_volume` returns a MONAI ``MetaTensor`` whose ``affine`` maps voxels to RAS millimetres, as every
MONAI transform expects.
"""

from __future__ import annotations

import gzip
import logging
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from liver3d.errors import InputError
from liver3d.geometry import Volume
from liver3d.io.dicom_series import DicomFolderError, MainSeriesITKReader, series_to_read
from liver3d.io.fast_nifti import sitk_voxels

NIFTI_SUFFIXES = (".nii", ".nii.gz")

# Every MONAI LoadImage registers a pydicom reader that tries the optional GPU JPEG decoder (nvImageCodec) and, on
# a machine without it, logs and warns that it is absent: two lines per load that say nothing about the scan.
logging.getLogger("monai.data.nvimgcodec_pydicom_plugin").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="NvImgCodecPydicomReader: nvImageCodec decoder plugin")


class VolumeError(InputError):
    """A volume that cannot be used, with the file named first: ``"<path>: <problem>"``."""


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def is_dicom_series(path: str | Path) -> bool:
    return Path(path).is_dir()


@dataclass(frozen=True)
class VolumeHeader:
    """Geometry of a volume read from its header: shape, voxel spacing (mm) and RAS affine."""

    path: str
    shape: tuple[int, ...]
    affine: np.ndarray
    dtype: str

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple(float(s) for s in nib.affines.voxel_sizes(self.affine))

    @property
    def axcodes(self) -> str:
        return "".join(nib.aff2axcodes(self.affine))


def _require_exists(path: Path) -> None:
    if not path.exists():
        raise VolumeError(path, "file not found")


def read_header(path: str | Path) -> VolumeHeader:
    """Read only the geometry (no voxel data). Raises :class:`VolumeError` for missing or unreadable files."""
    path = Path(path)
    _require_exists(path)
    if is_nifti(path):
        try:
            img = nib.load(str(path))
        except Exception as err:  # nibabel raises several types for a bad header
            raise VolumeError(path, f"unreadable NIfTI header ({_short(err)})") from err
        return VolumeHeader(
            str(path), tuple(int(n) for n in img.shape), img.affine, str(img.get_data_dtype())
        )
    return _read_itk_header(path)


def _read_itk_header(path: Path) -> VolumeHeader:
    try:
        if path.is_dir():
            try:
                files = series_to_read(path).files
            except DicomFolderError as err:
                raise VolumeError(path, str(err)) from err
            # One file holds every slice itself (a multi-frame, "enhanced" CT); else one file per slice.
            size, spacing, origin, direction = (
                _file_geometry(files[0]) if len(files) == 1 else _slices_geometry(files)
            )
        else:
            size, spacing, origin, direction = _file_geometry(str(path))
    except VolumeError:
        raise
    except Exception as err:
        raise VolumeError(path, f"unreadable image ({_short(err)})") from err
    affine_lps = np.eye(4)
    affine_lps[:3, :3] = direction[:3, :3] @ np.diag(spacing[:3])
    affine_lps[:3, 3] = origin[:3]
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_lps  # ITK is LPS, NIfTI/MONAI is RAS
    return VolumeHeader(str(path), tuple(int(n) for n in size), affine, "from ITK")


def _file_geometry(file: str) -> tuple:
    """Size, spacing, origin and direction (LPS) of one image file, from its header."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(file)
    reader.ReadImageInformation()
    size = reader.GetSize()
    direction = np.array(reader.GetDirection()).reshape(len(size), len(size))
    return size, np.array(reader.GetSpacing(), dtype=float), np.array(reader.GetOrigin()), direction


def _slices_geometry(files: tuple[str, ...]) -> tuple:
    """The same for a series of single-slice files in slice order: the slice step from the first to the last."""
    first_size, first_spacing, first_origin, _ = _file_geometry(files[0])
    _, _, last_origin, direction = _file_geometry(files[-1])
    spacing = first_spacing.copy()
    spacing[2] = float(np.linalg.norm(last_origin - first_origin) / (len(files) - 1))
    return (*first_size[:2], len(files)), spacing, first_origin, direction


def read_volume(path: str | Path) -> Volume:
    """Read a file's voxels (in the file's axis order) with their RAS affine as a :class:`~liver3d.geometry.Volume`;
    any damage (truncation, bad gzip) is reported as a :class:`VolumeError`."""
    path = Path(path)
    header = read_header(path)
    if is_nifti(path):
        try:
            img = nib.load(str(path))
            data = sitk_voxels(path, img)  # SimpleITK's faster inflate when it can; nibabel otherwise
            if data is None:
                data = np.asanyarray(img.dataobj)
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise VolumeError(path, f"truncated or corrupt gzip stream ({_short(err)})") from err
        except OSError as err:
            raise VolumeError(
                path, f"truncated file: voxel data shorter than the header declares ({_short(err)})"
            ) from err
        except Exception as err:
            raise VolumeError(path, f"unreadable voxel data ({_short(err)})") from err
        return Volume(data, header.affine, str(path))
    volume = load_volume(path)
    return Volume(np.asarray(volume), np.asarray(volume.affine), str(path))


def load_volume(path: str | Path, dtype: type | None = np.float32):
    """Load a volume as a MONAI ``MetaTensor`` (no channel axis), affine in RAS mm.

    NIfTI goes through nibabel, a DICOM series folder (or NRRD/MHA) through MONAI's ITKReader.

    Example:
        >>> ct = load_volume("imagesTr/case.nii.gz")  # doctest: +SKIP
        >>> ct.shape, ct.affine
    """
    from monai.transforms import LoadImage

    path = Path(path)
    _require_exists(path)
    if is_nifti(path):
        loader = LoadImage(reader="NibabelReader", image_only=True, dtype=dtype)
    elif path.is_dir():  # registered last, so tried first, and its refusals are not retried by another reader
        loader = LoadImage(image_only=True, dtype=dtype)
        loader.register(MainSeriesITKReader())
    else:
        loader = LoadImage(reader="ITKReader", image_only=True, dtype=dtype)
    try:
        return loader(str(path))
    except Exception as err:
        raise explain_load_failure(path, err) from err


def explain_load_failure(path: str | Path, err: BaseException) -> VolumeError:
    """The :class:`VolumeError` that says why ``path`` failed to load (missing, truncated, bad header...)."""
    path = Path(path)
    if not path.exists():
        return VolumeError(path, "file not found")
    try:
        if is_nifti(path):
            read_volume(path)  # names the precise problem when there is one
        elif path.is_dir():
            read_header(path)  # a folder without a series, a series with a missing slice
    except VolumeError as precise:
        return precise
    return VolumeError(path, f"cannot load ({_short(err)})")


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def require_files(paths: list[str | Path], what: str = "file") -> None:
    """Raise one :class:`VolumeError` naming every missing file (e.g. checkpoints) before any work starts."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise VolumeError(missing[0], f"{what} not found", [(m, f"{what} not found") for m in missing])
