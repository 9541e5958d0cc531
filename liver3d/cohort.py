"""``liver3d segment FOLDER -o OUTDIR`` on a folder of CTs: each CT segmented as one ``liver3d segment`` run
would segment it, and one table for the cohort.

A folder is a cohort when it holds no DICOM series itself but CTs one level down: NIfTI files, zips, and
sub-folders that each hold a DICOM series. Every case's outputs go into OUTDIR as a single run writes them
(``<case>_seg.nii.gz``, ``<case>_report/``, ``<case>_result.json``...), and ``cohort.csv`` holds one row per
case: its input, ``ok`` or ``error``, liver and tumor volume (mL), lesion count, warning codes, the error and the
seconds it took. A case that fails (a truncated file, a series with a missing slice) is one row and one ``ERROR``
line and the others go on; weights that cannot be used stop the run, since every case would fail the same way.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from liver3d.data.datalist import input_case_name
from liver3d.errors import InputError
from liver3d.io.atomic import atomic_path
from liver3d.io.dicom_series import largest_series
from liver3d.io.readers import is_nifti
from liver3d.networks.weights import WeightsError

COLUMNS = ("case", "input", "status", "liver_ml", "tumor_ml", "lesions", "warnings", "error", "seconds")


@dataclass
class CohortRow:
    """One case of the cohort table."""

    case: str
    input: str
    status: str  # "ok" or "error"
    liver_ml: float | None = None
    tumor_ml: float | None = None
    lesions: int | None = None
    warnings: str = ""  # the caution codes, space-separated
    error: str = ""
    seconds: float = 0.0


def cohort_inputs(folder: str | Path) -> list[Path]:
    """The CTs of a cohort folder, sorted by name: NIfTI files, zips and DICOM series sub-folders directly in it.
    Empty for a folder that holds a DICOM series itself (that folder is one CT)."""
    folder = Path(folder)
    if not folder.is_dir() or largest_series(folder) is not None:
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and (is_nifti(path) or path.name.lower().endswith(".zip")):
            found.append(path)
        elif path.is_dir() and largest_series(path) is not None:
            found.append(path)
    return found


def segment_cohort(
    inputs: list[Path],
    out_dir: str | Path,
    segment_one: Callable,
    on_case: Callable[[CohortRow, object], None] | None = None,
) -> list[CohortRow]:
    """Segment each input with ``segment_one(input, out_dir)`` (``liver3d.segment.segment`` with the run's
    options bound) and write ``out_dir/cohort.csv``. ``on_case(row, outcome)`` is told of each case as it ends
    (``outcome``: what ``segment_one`` returned, or the :class:`InputError` of a failed case). Raises
    :class:`InputError` before any case runs when ``out_dir`` is a file or two inputs would write the same case
    name, and :class:`WeightsError` as soon as the weights fail."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "the output folder is a file")
    names = Counter(input_case_name(p) for p in inputs)
    clashes = sorted(name for name, n in names.items() if n > 1)
    if clashes:
        raise InputError(
            inputs[0].parent,
            f"several CTs would be written as case {clashes[0]!r} (a NIfTI file and a zip of one name?): "
            "rename one",
        )
    rows = []
    for path in inputs:
        try:
            result = segment_one(path, out_dir)
        except WeightsError:
            raise
        except InputError as err:
            row = CohortRow(input_case_name(path), str(path), "error", error=err.problem)
            rows.append(row)
            if on_case:
                on_case(row, err)
            continue
        row = CohortRow(
            result.case,
            str(path),
            "ok",
            round(result.liver_ml, 2),
            round(result.tumor_ml, 3),
            result.lesions,
            " ".join(c.code for c in result.cautions),
            seconds=round(sum(result.seconds.values()), 2),
        )
        rows.append(row)
        if on_case:
            on_case(row, result)
    write_cohort_table(rows, out_dir / "cohort.csv")
    return rows


def write_cohort_table(rows: list[CohortRow], path: Path) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    return path
