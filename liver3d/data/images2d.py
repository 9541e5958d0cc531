"""Datalists of labelled 2D images: a folder per class, or a CSV / JSON list with patient ids.

Every entry comes back as ``{"image": absolute path, "label": class index, "class_name": str,
"patient_id": str}`` plus ``mask`` (a lesion mask path) when the list gives one. Patient ids make
:func:`~liver3d.data.split_by_patient` keep all images of a patient on one side; without them every image
is its own patient (say so in the paper: an image-level split of a multi-image-per-patient set leaks).

Folder layout::

    root/<class name>/<any sub folders>/<image files>

CSV columns (names configurable): ``image``, ``label`` (a class name or index), optional ``patient_id``
and ``mask``. A JSON file holds a list of such objects, or ``{"training": [...]}``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from liver3d.data.datalist import DatalistError
from liver3d.io.images2d import is_image_file


def image_datalist(
    source: str | Path,
    class_names: Sequence[str],
    columns: Mapping[str, str] | None = None,
    patient_pattern: str | None = None,
    key: str = "training",
) -> list[dict]:
    """Entries of a class-folder tree, a CSV file or a JSON file (see the module docstring).

    Args:
        class_names: the classes in index order; folder names and CSV labels must be among them.
        columns: CSV/JSON field names for ``image``, ``label``, ``patient_id``, ``mask`` when they differ,
            e.g. ``{"image": "path", "label": "Target", "patient_id": "patientId"}``.
        patient_pattern: a regular expression whose first group, searched in the file name, is the
            patient id (folder layout, or a list without patient ids), e.g. ``"^(P\\d+)_"``.
        key: the list to read from a JSON object.
    """
    source = Path(source)
    names = [str(c) for c in class_names]
    if len(set(names)) != len(names) or not names:
        raise DatalistError(f"class_names must be distinct and non-empty, got {names}")
    if source.is_dir():
        listing = source / "datalist.csv"
        rows = _read_rows(listing, key) if listing.is_file() else _folder_rows(source, names)
        base = source
    elif source.is_file():
        rows, base = _read_rows(source, key), source.parent
    else:
        raise DatalistError(f"{source}: image datalist not found")
    fields = {"image": "image", "label": "label", "patient_id": "patient_id", "mask": "mask"}
    fields.update(columns or {})
    pattern = re.compile(patient_pattern) if patient_pattern else None
    entries = [_entry(row, n, fields, names, base, source, pattern) for n, row in enumerate(rows)]
    if not entries:
        raise DatalistError(f"{source}: no images found")
    missing = [e["image"] for e in entries if not Path(e["image"]).is_file()]
    if missing:
        raise DatalistError(f"{source}: {len(missing)} image file(s) not found, e.g. {missing[0]}")
    return entries


def class_counts(entries: Sequence[dict], class_names: Sequence[str]) -> dict[str, int]:
    """Images per class, in class order."""
    counts = dict.fromkeys(class_names, 0)
    for e in entries:
        counts[class_names[int(e["label"])]] += 1
    return counts


def _folder_rows(root: Path, names: list[str]) -> list[dict]:
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    unknown = [f for f in found if f not in names]
    if not any(f in names for f in found):
        raise DatalistError(f"{root}: no class folders; expected sub folders named {names}, found {found}")
    if unknown:
        raise DatalistError(f"{root}: folder(s) {unknown} are not among the classes {names}")
    rows = []
    for name in names:
        folder = root / name
        if folder.is_dir():
            rows += [
                {"image": str(p), "label": name}
                for p in sorted(folder.rglob("*"))
                if p.is_file() and is_image_file(p)
            ]
    return rows


def _read_rows(path: Path, key: str) -> list[dict]:
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatalistError(f"{path}: not a CSV file or valid JSON ({err})") from err
    if isinstance(data, dict):
        if key not in data:
            raise DatalistError(f"{path}: no {key!r} list (keys: {', '.join(map(str, data))})")
        data = data[key]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DatalistError(f"{path}: expected a list of objects with image and label")
    return data


def _entry(
    row: dict,
    n: int,
    fields: Mapping[str, str],
    names: list[str],
    base: Path,
    source: Path,
    pattern: re.Pattern | None,
) -> dict:
    where = f"{source}: row {n + 1}"
    if fields["image"] not in row or fields["label"] not in row:
        raise DatalistError(f"{where}: needs the fields {fields['image']!r} and {fields['label']!r}")
    image = _absolute(str(row[fields["image"]]), base)
    label = _class_index(row[fields["label"]], names, where)
    entry = {"image": image, "label": label, "class_name": names[label]}
    patient = row.get(fields["patient_id"])
    if patient in (None, ""):
        patient = _patient_from_name(Path(image), pattern, where)
    entry["patient_id"] = str(patient)
    mask = row.get(fields["mask"])
    if mask not in (None, ""):
        entry["mask"] = _absolute(str(mask), base)
    return entry


def _class_index(value, names: list[str], where: str) -> int:
    text = str(value).strip()
    if text in names:
        return names.index(text)
    if re.fullmatch(r"\d+", text) and int(text) < len(names):
        return int(text)
    raise DatalistError(f"{where}: label {text!r} is not a class name or index of {names}")


def _patient_from_name(path: Path, pattern: re.Pattern | None, where: str) -> str:
    if pattern is None:
        return path.name.split(".")[0]
    match = pattern.search(path.name)
    if not match:
        raise DatalistError(f"{where}: patient_pattern {pattern.pattern!r} does not match {path.name}")
    return match.group(1) if match.groups() else match.group(0)


def _absolute(path: str, base: Path) -> str:
    p = Path(path)
    return str(p if p.is_absolute() else (base / p).resolve())


def require_image_datalist(
    source: str | Path,
    class_names: Sequence[str],
    columns: Mapping[str, str] | None = None,
    patient_pattern: str | None = None,
    key: str = "training",
) -> list[dict]:
    """:func:`image_datalist` for bundle configs (called through :func:`liver3d.bundle_support.checked`):
    raises :class:`DatalistError`, also for a ``patient_pattern`` that is not a regular expression."""
    try:
        return image_datalist(source, class_names, columns, patient_pattern, key)
    except re.error as err:
        raise DatalistError(f"patient_pattern: not a regular expression ({err})") from err
