"""Datalists: Decathlon-style ``dataset.json`` files or folders of image/label pairs.

Every entry comes back as a dict with absolute ``image`` and ``label`` paths and a ``patient_id`` (taken
from the entry, or else from the image file name), which is what patient-level splits group by.
"""

from __future__ import annotations

import json
from pathlib import Path

from liver3d.errors import InputError
from liver3d.io.archive import is_zip
from liver3d.io.readers import NIFTI_SUFFIXES


class DatalistError(InputError):
    """A datalist that cannot be used, raised as ``DatalistError("<path>: <problem>")``."""

    def __init__(self, message: str) -> None:
        path, sep, problem = message.partition(": ")
        super().__init__(path if sep else "datalist", problem if sep else message)


def case_name(path: str | Path) -> str:
    """File name without the image suffix: ``imagesTr/liver_7.nii.gz`` -> ``liver_7``."""
    name = Path(path).name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def input_case_name(path: str | Path) -> str:
    """The case name of a CT given to ``liver3d segment``: its :func:`case_name`, a zip's without ``.zip``."""
    name = Path(path).name
    return case_name(name[:-4] if is_zip(name) else name)


def entry_case(entry) -> str:
    """A datalist entry's case id: its ``case_id`` when given, else its image file's :func:`case_name`."""
    return str(entry.get("case_id") or case_name(str(entry["image"])))


def _resolve(path: str, base: Path) -> str:
    p = Path(path)
    return str(p if p.is_absolute() else (base / p).resolve())


def load_datalist(path: str | Path, key: str = "training", base_dir: str | Path | None = None) -> list[dict]:
    """Read the ``key`` list of a Decathlon-style JSON datalist, or pair the images and labels of a folder.

    Args:
        path: a ``dataset.json``-like file, or a folder holding ``imagesTr/`` and ``labelsTr/``
            (or ``images/`` and ``labels/``).
        key: which list of the JSON to read ("training", "validation", "test", ...).
        base_dir: folder that relative paths are relative to (default: the JSON file's folder).
    """
    path = Path(path)
    if path.is_dir():
        if (path / "dataset.json").is_file():
            return load_datalist(path / "dataset.json", key, base_dir)
        return datalist_from_folder(path)
    if not path.is_file():
        raise DatalistError(f"{path}: datalist not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise DatalistError(f"{path}: not valid JSON ({err})") from err
    if isinstance(data, list):
        items = data
    elif key in data:
        items = data[key]
    else:
        raise DatalistError(f"{path}: no {key!r} list (keys: {', '.join(map(str, data))})")
    base = Path(base_dir) if base_dir is not None else path.parent
    entries = []
    for index, item in enumerate(items):
        if isinstance(item, str):  # Decathlon test lists are bare paths
            item = {"image": item}
        if "image" not in item:
            raise DatalistError(f"{path}: entry {index} of {key!r} has no 'image'")
        entry = dict(item)
        for field in ("image", "label", "tissue"):
            if entry.get(field):
                entry[field] = _resolve(str(entry[field]), base)
        entry.setdefault("patient_id", case_name(entry["image"]))
        entries.append(entry)
    return entries


def datalist_from_folder(
    folder: str | Path, images: str | None = None, labels: str | None = None
) -> list[dict]:
    """Pair ``<folder>/imagesTr/X.nii.gz`` with ``<folder>/labelsTr/X.nii.gz`` (or ``images``/``labels``).

    Images without a label are listed without one; a label without an image is an error.
    """
    folder = Path(folder)
    image_dir = (
        folder / images
        if images
        else next((folder / d for d in ("imagesTr", "images") if (folder / d).is_dir()), None)
    )
    label_dir = (
        folder / labels
        if labels
        else next((folder / d for d in ("labelsTr", "labels") if (folder / d).is_dir()), None)
    )
    if image_dir is None or not image_dir.is_dir():
        raise DatalistError(f"{folder}: no imagesTr/ or images/ folder")
    image_files = sorted(
        p for p in image_dir.iterdir() if p.name.lower().endswith(NIFTI_SUFFIXES) or p.is_dir()
    )
    if not image_files:
        raise DatalistError(f"{image_dir}: no NIfTI images or DICOM series folders")
    label_files = {}
    if label_dir is not None and label_dir.is_dir():
        label_files = {
            case_name(p): p for p in label_dir.iterdir() if p.name.lower().endswith(NIFTI_SUFFIXES)
        }
    names = {case_name(p) for p in image_files}
    orphans = sorted(set(label_files) - names)
    if orphans:
        raise DatalistError(f"{label_dir}: labels without an image: {', '.join(orphans[:5])}")
    entries = []
    for image in image_files:
        entry = {"image": str(image.resolve()), "patient_id": case_name(image)}
        if case_name(image) in label_files:
            entry["label"] = str(label_files[case_name(image)].resolve())
        entries.append(entry)
    return entries


def declared_labels(path: str | Path) -> list[int] | None:
    """Label values a Decathlon ``dataset.json`` declares in its ``labels`` table, or None."""
    path = Path(path)
    if path.is_dir():
        path = path / "dataset.json"
    if not path.is_file():
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    labels = data.get("labels") if isinstance(data, dict) else None
    if isinstance(labels, dict):
        return sorted(int(k) for k in labels)
    return None


def keep_keys(entries: list[dict], keys: tuple[str, ...] | list[str] = ("image", "label")) -> list[dict]:
    """Entries reduced to ``keys`` (the rest — tumor lists, phantom parameters — would not collate in batches)."""
    return [{k: e[k] for k in keys if k in e} for e in entries]
