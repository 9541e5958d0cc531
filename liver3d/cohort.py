"""``liver3d segment FOLDER -o OUTDIR`` on a folder of CTs: each CT segmented as one ``liver3d segment`` run
would segment it, and one table for the cohort.

A folder is a cohort when it holds no DICOM series itself but CTs one level down: NIfTI files, zips, and
sub-folders that each hold a DICOM series, directly or in one folder deeper down (a patient's export,
``<patient>/<study>/<series>/``, is the CT named ``<patient>``; one whose export holds several series folders is
an error row that names them). One export given by itself is one CT, not a cohort of its study folder. Every case's outputs go into OUTDIR as a single run writes them
(``<case>_seg.nii.gz``, ``<case>_report/``, ``<case>_result.json``...), and ``cohort.csv`` holds one row per
case: its input, ``ok`` or ``error``, liver and tumor volume (mL), lesion count, warning codes, the error and the
seconds it took. A case that fails (a truncated file, a series with a missing slice) is one row and one ``ERROR``
line and the others go on; weights that cannot be used stop the run, since every case would fail the same way.
A folder whose DICOM sub-folders are series of one study is refused: its scout and phases are not patients.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple

from liver3d.data.datalist import input_case_name
from liver3d.errors import InputError
from liver3d.io.archive import is_zip
from liver3d.io.atomic import atomic_path
from liver3d.io.dicom_series import (
    DicomFolderError,
    DicomSeries,
    largest_series,
    series_folder_below,
    study_of,
)
from liver3d.io.readers import is_nifti
from liver3d.networks.weights import WeightsError


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


class CohortEntries(NamedTuple):
    """What a cohort folder holds: the CTs to segment and the entries left out (neither a CT nor hidden)."""

    inputs: list[Path]
    skipped: list[Path]


COLUMNS = tuple(f.name for f in fields(CohortRow))


def cohort_inputs(folder: str | Path) -> CohortEntries:
    """The CTs of a cohort folder, sorted by name: NIfTI files, zips and sub-folders holding a DICOM series,
    directly or in one folder below (:func:`~liver3d.io.dicom_series.series_folder_below`; hidden files left
    out). Empty for a folder that holds a DICOM series itself (that folder is one CT); an
    :class:`InputError` for a study (DICOM sub-folders that are series of one study: a scout and two phases are not
    three patients)."""
    folder = Path(folder)
    if not folder.is_dir() or largest_series(folder) is not None:
        return CohortEntries([], [])
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as err:
        raise InputError(folder, f"cannot list the folder ({err.strerror or err})") from err
    inputs, exports, several, skipped, series = [], [], [], [], {}
    for path in entries:
        if path.is_file():
            (inputs if is_nifti(path) or is_zip(path) else skipped).append(path)
            continue
        choice = largest_series(path) if path.is_dir() else None
        if choice is None and path.is_dir():  # a patient's export: its one series folder below
            try:
                below = series_folder_below(path)
            except DicomFolderError:  # several series folders: which one is the user's choice, its row says
                several.append(path)
                continue
            choice = largest_series(below) if below is not None else None
            if choice is not None:
                exports.append(path)
        if choice is not None:
            series[path] = choice.series
        (inputs if choice is not None else skipped).append(path)
    if inputs == exports and len(exports) + len(several) < 2:
        # One export given itself (<patient>/<study>/<series>/, or one whose series folders are the user's to
        # choose among): one CT, named after the folder given, not a cohort of its study folder.
        return CohortEntries([], [])
    _refuse_one_study(folder, series)
    return CohortEntries(sorted(inputs + several), skipped)


def _refuse_one_study(folder: Path, series: dict[Path, DicomSeries]) -> None:
    """Sub-folders whose series share a Study Instance UID are one patient's scout and phases, not a cohort
    (a blank UID, as de-identified exports have, matches nothing)."""
    seen: dict[str, Path] = {}
    for path, one in series.items():
        study = study_of(one)
        if study in seen:
            raise InputError(
                folder,
                f"{seen[study].name} and {path.name} are series of one study, not two patients: give the "
                "folder of one series (or a folder of one sub-folder per patient)",
            )
        if study:
            seen[study] = path


def segment_cohort(
    inputs: list[Path],
    out_dir: str | Path,
    segment_one: Callable,
    on_case: Callable[[CohortRow, object], None] | None = None,
) -> list[CohortRow]:
    """Segment each input with ``segment_one(input, out_dir)`` (``liver3d.segment.segment`` with the run's
    options bound); ``out_dir/cohort.csv`` is written again after every case, so a run that stops leaves a table
    of what it published. ``on_case(row, outcome)`` is told of each case as it ends (``outcome``: what
    ``segment_one`` returned, or the error of a failed case). A case that fails for any reason but the weights
    is an error row; :class:`WeightsError` stops the run. Refused before any case runs: an output folder that
    cannot be written or is the cohort folder, and two inputs that would write one case name."""
    out_dir = Path(out_dir)
    _check_names(inputs)
    if inputs and out_dir.resolve() == inputs[0].parent.resolve():
        raise InputError(out_dir, "the output folder is the cohort folder: its outputs would become inputs")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_cohort_table([], out_dir / "cohort.csv")
    except OSError as err:
        raise InputError(out_dir, f"cannot write the output folder ({err.strerror or err})") from err
    rows = []
    for path in inputs:
        clock = time.perf_counter()
        try:
            outcome = segment_one(path, out_dir)
        except WeightsError:
            raise
        except Exception as err:  # one case's failure (bad file, out of memory) is its row; the others go on
            outcome = err if isinstance(err, InputError) else InputError(path, f"{type(err).__name__}: {err}")
            row = CohortRow(input_case_name(path), str(path), "error", error=outcome.problem)
        else:
            row = CohortRow(
                outcome.case,
                str(path),
                "ok",
                round(outcome.liver_ml, 2),
                round(outcome.tumor_ml, 3),
                outcome.lesions,
                " ".join(c.code for c in outcome.cautions),
            )
        row.seconds = round(time.perf_counter() - clock, 2)
        rows.append(row)
        write_cohort_table(rows, out_dir / "cohort.csv")
        if on_case:
            on_case(row, outcome)
    return rows


def _check_names(inputs: list[Path]) -> None:
    """Two inputs of one case name (also differing only in case, as on macOS or Windows) would overwrite."""
    names: dict[str, Path] = {}
    for path in inputs:
        key = input_case_name(path).casefold()
        if key in names:
            raise InputError(
                path.parent,
                f"{names[key].name} and {path.name} would be written as one case ({input_case_name(path)!r}): "
                "rename one",
            )
        names[key] = path


def write_cohort_table(rows: list[CohortRow], path: Path) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    return path
