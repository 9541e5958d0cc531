"""Reading single 2D images (PNG/JPEG/BMP/TIFF, a DICOM file, a one-slice NIfTI) as channel-first float arrays.

Every failure names the file and the problem: a missing file, an unreadable or truncated one, a 3D volume
where one slice was expected, NaN pixels.

* PNG/JPEG/...: Pillow; grey (``L``, ``I;16``), RGB and palette images; alpha is dropped.
* DICOM (``.dcm``, or no suffix): SimpleITK, which applies RescaleSlope/Intercept; MONOCHROME1 images
  (white = low attenuation, common for X-ray) are inverted so that bright means dense, as in MONOCHROME2.
* NIfTI: a 2D image or a 3D one with a single slice on any axis.

Arrays come back as ``(C, H, W)`` float32 with ``C`` = 1 (grey) or 3 (RGB) per ``channels``; rows are the
image's rows (top first), as a viewer shows them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liver3d.io.readers import VolumeError, is_nifti

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DICOM_SUFFIXES = (".dcm", ".dicom")
IMAGE_SUFFIXES = RASTER_SUFFIXES + DICOM_SUFFIXES + (".nii", ".nii.gz")


def is_image_file(path: str | Path) -> bool:
    """A file this module can read, judged by its suffix."""
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def read_image_2d(path: str | Path, channels: int = 1) -> np.ndarray:
    """Read one 2D image as a ``(channels, H, W)`` float32 array (grey repeated to 3, RGB averaged to 1)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    path = Path(path)
    if not path.is_file():
        raise VolumeError(path, "file not found" if not path.exists() else "not a file")
    name = path.name.lower()
    try:
        if name.endswith(RASTER_SUFFIXES):
            array = _read_raster(path)
        elif is_nifti(path):
            array = _read_nifti_slice(path)
        else:
            array = _read_dicom(path)
    except VolumeError:
        raise
    except Exception as err:  # noqa: BLE001 - every reader's own failure becomes one clear message
        raise VolumeError(path, f"cannot be read as an image ({type(err).__name__}: {err})") from err
    if array.ndim == 2:
        array = array[None]
    if not np.isfinite(array).all():
        raise VolumeError(path, f"{int((~np.isfinite(array)).sum())} pixels are NaN or infinite")
    if array.shape[0] != channels:
        array = np.repeat(array[:1], 3, axis=0) if channels == 3 else array.mean(0, keepdims=True)
    return np.ascontiguousarray(array, dtype=np.float32)


def _read_raster(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # a truncated file fails here, not later in a worker
        if img.mode in ("RGB", "RGBA", "P", "CMYK", "LA", "YCbCr"):
            img = img.convert("RGB")
            array = np.asarray(img, dtype=np.float32).transpose(2, 0, 1)
            if np.array_equal(array[0], array[1]) and np.array_equal(array[0], array[2]):
                array = array[:1]  # grey stored as RGB
            return array
        return np.asarray(img, dtype=np.float32)


def _read_dicom(path: Path) -> np.ndarray:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    photometric = (
        reader.GetMetaData("0028|0004").strip() if reader.HasMetaDataKey("0028|0004") else "MONOCHROME2"
    )
    array = sitk.GetArrayFromImage(reader.Execute()).astype(np.float32)
    if array.ndim == 4:  # (1, H, W, 3) colour DICOM
        array = np.moveaxis(array[0], -1, 0)
    elif array.ndim == 3:
        array = _single_slice(path, array)
    if photometric == "MONOCHROME1":
        array = array.max() + array.min() - array
    return array


def _read_nifti_slice(path: Path) -> np.ndarray:
    import nibabel as nib

    array = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
    if array.ndim == 3:
        array = _single_slice(path, array)
    elif array.ndim != 2:
        raise VolumeError(path, f"expected a 2D image or a one-slice volume, got shape {array.shape}")
    # NIfTI stores (x, y): columns first; show rows top-down as a viewer would (radiological axial view).
    return np.flipud(array.T)


def _single_slice(path: Path, array: np.ndarray) -> np.ndarray:
    singleton = [axis for axis, size in enumerate(array.shape) if size == 1]
    if not singleton:
        raise VolumeError(path, f"expected one 2D slice, got a volume of shape {array.shape}")
    return np.take(array, 0, axis=singleton[0])
