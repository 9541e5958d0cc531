"""The label table: values, names and display colours of background, liver and tumor.

The table lives in ``configs/labels.json`` and is the single source of truth for training, export
(NIfTI, 3D Slicer segments), reports and the viewer.

Example:
    >>> from liver3d.labels import load_label_table
    >>> table = load_label_table()
    >>> table.value("tumor")
    2
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from liver3d.paths import config_path


@dataclass(frozen=True)
class Label:
    """One label: its integer value in a label map, its name and its RGB display colour (0-255)."""

    value: int
    name: str
    color: tuple[int, int, int]
    #: DICOM SEG codes: {"category": (scheme, value, meaning), "type": (...)}; None when the table gives none.
    codes: tuple[tuple[str, tuple[str, str, str]], ...] | None = None

    def code(self, kind: str) -> tuple[str, str, str] | None:
        """The (scheme, value, meaning) of this label's segmented property ``kind`` ("category", "type")."""
        return dict(self.codes or ()).get(kind)

    @property
    def color_float(self) -> tuple[float, float, float]:
        """The colour as RGB floats in [0, 1] (matplotlib, 3D Slicer)."""
        return tuple(c / 255.0 for c in self.color)  # type: ignore[return-value]


@dataclass(frozen=True)
class LabelTable:
    """An ordered table of labels; background (value 0) comes first."""

    labels: tuple[Label, ...]

    def __iter__(self):
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(lab.value for lab in self.labels)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(lab.name for lab in self.labels)

    @property
    def foreground(self) -> tuple[Label, ...]:
        """Every label but background (value 0)."""
        return tuple(lab for lab in self.labels if lab.value != 0)

    def value(self, name: str) -> int:
        return self.by_name(name).value

    def by_name(self, name: str) -> Label:
        for lab in self.labels:
            if lab.name == name:
                return lab
        raise KeyError(f"no label named {name!r}; known labels: {', '.join(self.names)}")

    def by_value(self, value: int) -> Label:
        for lab in self.labels:
            if lab.value == value:
                return lab
        raise KeyError(f"no label with value {value}; known values: {self.values}")

    def as_decathlon(self) -> dict[str, str]:
        """``{"0": "background", ...}`` as Decathlon ``dataset.json`` files write it."""
        return {str(lab.value): lab.name for lab in self.labels}

    def channel_def(self) -> dict[str, str]:
        """MONAI bundle ``metadata.json`` ``channel_def`` for a one-hot or softmax output."""
        return {str(i): lab.name for i, lab in enumerate(self.labels)}


def _codes(raw: dict | None) -> tuple[tuple[str, tuple[str, str, str]], ...] | None:
    if raw is None:
        return None
    out = []
    for kind, triple in raw.items():
        scheme, value, meaning = (str(v) for v in triple)
        out.append((str(kind), (scheme, value, meaning)))
    return tuple(out)


def _parse(data: dict, source: str) -> LabelTable:
    try:
        labels = tuple(
            Label(
                int(item["value"]),
                str(item["name"]),
                tuple(int(c) for c in item["color"]),  # type: ignore[arg-type]
                _codes(item.get("codes")),
            )
            for item in data["labels"]
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{source}: malformed label table ({err})") from err
    values = [lab.value for lab in labels]
    if len(set(values)) != len(values) or 0 not in values:
        raise ValueError(f"{source}: label values must be unique and include 0 (background), got {values}")
    return LabelTable(tuple(sorted(labels, key=lambda lab: lab.value)))


@lru_cache(maxsize=8)
def load_label_table(path: str | Path | None = None) -> LabelTable:
    """Read a label table (default: ``configs/labels.json``)."""
    path = Path(path) if path is not None else config_path("labels.json")
    with open(path, encoding="utf-8") as f:
        return _parse(json.load(f), str(path))


def label_values() -> tuple[int, ...]:
    return load_label_table().values


def label_names() -> tuple[str, ...]:
    return load_label_table().names


def tumor_present(label, min_voxels: int = 1) -> int:
    """1 if a label map (NumPy array or tensor) holds at least ``min_voxels`` tumor voxels, else 0."""
    import numpy as np
    import torch

    tumor = load_label_table().value("tumor")
    plain = label if isinstance(label, torch.Tensor) else torch.as_tensor(np.asarray(label))
    return int(int((plain == tumor).sum()) >= min_voxels)
