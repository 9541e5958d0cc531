"""What to run inference on: one NIfTI file, one DICOM series folder, a folder of NIfTI files or a datalist."""

from __future__ import annotations

from pathlib import Path

from liver3d.data.datalist import load_datalist
from liver3d.io.readers import NIFTI_SUFFIXES


def inference_inputs(source: str | Path, key: str = "training") -> list[dict]:
    """A list of ``{"image": path}`` (with ``label`` when the datalist has one).

    ``source`` may be a ``.nii``/``.nii.gz`` file, a DICOM series folder, a folder of NIfTI files, a
    folder with ``imagesTr/`` or ``dataset.json``, or a datalist JSON (``key`` picks its list).
    """
    path = Path(source)
    if not path.exists():  # reported, with every other input problem, by require_valid_inputs
        return [{"image": str(path)}]
    if path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES):
        return [{"image": str(path.resolve())}]
    if path.is_file():
        return load_datalist(path, key)
    if (path / "dataset.json").is_file() or (path / "imagesTr").is_dir():
        return load_datalist(path, key)
    nifti = sorted(p for p in path.iterdir() if p.name.lower().endswith(NIFTI_SUFFIXES))
    if nifti:
        return [{"image": str(p.resolve())} for p in nifti]
    return [{"image": str(path.resolve())}]  # a DICOM series folder
