"""What to run inference on: one NIfTI file, one DICOM series folder, a folder of NIfTI files or a datalist."""

from __future__ import annotations

from pathlib import Path

from liver3d.data.datalist import load_datalist
from liver3d.errors import InputError
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


def image_inputs(source: str | Path) -> list[dict]:
    """2D inference entries (``image``, ``label`` -1 for unknown, ``patient_id``, ``class_name``) of one image
    file or every readable image in a folder (sorted); a missing path gives one entry the checks report."""
    from liver3d.io.images2d import is_image_file

    path = Path(source)
    files = sorted(p for p in path.iterdir() if is_image_file(p)) if path.is_dir() else [path]
    return [
        {
            "image": str(p.resolve()) if p.exists() else str(p),
            "label": -1,
            "patient_id": p.stem,
            "class_name": "unknown",
        }
        for p in files
    ]


def with_label_input(entries: list[dict], label: str | Path | None) -> list[dict]:
    """``entries`` with ``label`` set to ``label`` (one input and its label map, e.g. a segmentation's
    ``<case>_seg.nii.gz``); unchanged when ``label`` is None."""
    if label is None:
        return entries
    if len(entries) != 1:
        raise InputError(
            label, f"one label map given for {len(entries)} inputs: give a datalist that pairs them"
        )
    return [{**entries[0], "label": str(label)}]


def require_labels(entries: list[dict], why: str) -> None:
    """One :class:`~liver3d.errors.InputError` naming every input without a ``label`` (``why`` it needs one)."""
    missing = [e["image"] for e in entries if not e.get("label")]
    if missing:
        raise InputError(missing[0], why, [(m, why) for m in missing])
