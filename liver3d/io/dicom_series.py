"""Which image series of a DICOM folder liver3d reads, and the folders it refuses.

A folder exported from a PACS often holds more than the axial CT: a scout, a second reconstruction, a dose
report. MONAI's ``ITKReader`` reads whichever series ITK lists first; liver3d reads the **largest** (the most
images: slices, or the frames of a multi-frame file; ties go to the one listed first), everywhere a folder is
read (the header check, ``load_volume``, the bundles' ``LoadVolumed``, ``liver3d segment``, the DICOM SEG
export), and ``liver3d segment`` says which one it took when there was a choice. Series are told apart as
MONAI's reader tells them apart: ITK's GDCM series names "with details" (the Series Instance UID plus series
number, slice thickness, rows and columns, and the series date), so the names are the ones ``ITKReader`` takes.

:func:`series_to_read` also refuses what ITK would read wrongly without a word: a series whose slices are not
evenly spaced (a slice lost in transfer: ITK spreads the rest over one spacing; two slices at one position) and
a folder that holds series only in its sub-folders (the error names them). ``liver3d segment`` goes one step
further for a patient's export (``<patient>/<study>/<series>/``): :func:`series_folder_below` finds its one
folder of DICOM files, and names them all when there are several.
"""

from __future__ import annotations

import functools
import itertools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from monai.data import ITKReader
from monai.utils import ensure_tuple


class DicomFolderError(ValueError):
    """A folder liver3d cannot read as one CT: no series in it, or its series' slices are not evenly spaced."""


@dataclass(frozen=True)
class DicomSeries:
    """One image series of a folder: ITK's name for it, its files (in ITK's slice order), how many images they
    hold (a multi-frame file counts its frames) and the series description."""

    identifier: str
    files: tuple[str, ...]
    images: int
    description: str

    def describe(self) -> str:
        name = f"'{self.description}'" if self.description else "without a description"
        return f"series {name} ({self.images} images)"


class SeriesChoice(NamedTuple):
    """The series read from a folder, and how many series the folder holds."""

    series: DicomSeries
    among: int


def series_in_folder(folder: str | Path) -> list[DicomSeries]:
    """Every image series ITK finds directly in ``folder`` (not in sub-folders), in ITK's order. Cached until
    the folder changes (its modification time), since one run reads the same folder several times."""
    folder = Path(folder)
    return list(_series_in_folder(str(folder), folder.stat().st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _series_in_folder(folder: str, _mtime_ns: int) -> tuple[DicomSeries, ...]:
    import itk

    names = itk.GDCMSeriesFileNames.New()
    names.SetUseSeriesDetails(True)  # as MONAI's ITKReader, so the identifiers are the ones it accepts
    names.AddSeriesRestriction("0008|0021")
    shown = itk.Object.GetGlobalWarningDisplay()
    itk.Object.SetGlobalWarningDisplay(False)  # "No Series were found" would bypass the one-line error
    try:
        names.SetDirectory(folder)
        listed = [(str(i), tuple(str(f) for f in names.GetFileNames(i))) for i in names.GetSeriesUIDs()]
    finally:
        itk.Object.SetGlobalWarningDisplay(shown)
    found = []
    for identifier, files in listed:
        if files:
            header = _header(files[0], "SeriesDescription", "NumberOfFrames")
            frames = int(header.get("NumberOfFrames", 1) or 1) if len(files) == 1 else len(files)
            description = str(header.get("SeriesDescription", "") or "").strip()
            found.append(DicomSeries(identifier, files, frames, description))
    return tuple(found)


def largest_series(folder: str | Path) -> SeriesChoice | None:
    """The series liver3d reads from ``folder`` (the one with the most images) and how many the folder holds;
    None when it holds none."""
    found = series_in_folder(folder)
    if not found:
        return None
    return SeriesChoice(max(found, key=lambda s: s.images), len(found))  # max keeps the first of equals


#: How deep :func:`series_folder_below` looks: a PACS export's patient / study / series tree is two or three.
MAX_SERIES_DEPTH = 4


def series_folder_below(folder: str | Path, max_depth: int = MAX_SERIES_DEPTH) -> Path | None:
    """The one folder at or below ``folder`` (up to ``max_depth`` levels down; hidden folders left out, links not
    followed) that holds DICOM files, for a patient's export (``<patient>/<study>/<series>/``); None when none
    does. :class:`DicomFolderError` naming them when several do (a scout and phases: which one is the user's
    choice) or when a folder below cannot be read (a series there could be the one)."""
    folder = Path(folder)

    def unreadable(err: OSError) -> None:
        raise DicomFolderError(f"cannot read {err.filename} ({err.strerror or err})")

    found = list(_folders_with_dicom_files(folder, max_depth, skip_hidden=True, onerror=unreadable))
    if len(found) > 1:
        below = [p.relative_to(folder).as_posix() for p in found if p != folder]
        own = "DICOM files of its own and" if folder in found else "no DICOM series directly, but"
        raise DicomFolderError(f"folder holds {own} its sub-folders do ({_named(below)}): give one of them")
    return found[0] if found else None


def series_to_read(folder: str | Path) -> DicomSeries:
    """The largest series of ``folder``; :class:`DicomFolderError` when there is none (naming the sub-folders
    that hold one) or when its slices are not evenly spaced."""
    choice = largest_series(folder)
    if choice is None:
        raise DicomFolderError("folder holds no DICOM series" + _where_series_are(Path(folder)))
    problem = slice_spacing_problem(choice.series)
    if problem:
        raise DicomFolderError(problem)
    return choice.series


@functools.lru_cache(maxsize=8)
def slice_spacing_problem(series: DicomSeries) -> str | None:
    """Why the slices of ``series`` do not make one regular grid, or None. A step more than 1.5 times the usual
    one is a gap (a missing slice), less than half of it two slices at (almost) one position; finer differences
    are left alone, since positions are often written to 0.1 mm."""
    positions = []
    for path in series.files:
        header = _header(path, "ImagePositionPatient", "ImageOrientationPatient")
        if "ImagePositionPatient" not in header or "ImageOrientationPatient" not in header:
            return None  # a header without positions (or a multi-frame file): ITK's own reading decides
        orientation = np.asarray(header["ImageOrientationPatient"], dtype=float)
        position = np.asarray(header["ImagePositionPatient"], dtype=float)
        positions.append(float(position @ np.cross(orientation[:3], orientation[3:])))
    if len(positions) < 3:
        return None
    steps = np.diff(np.sort(positions))
    usual = float(np.median(steps))
    if usual < 1e-3:
        return "most slices share their position with another: several phases or series under one name"
    gaps, doubles = np.flatnonzero(steps > 1.5 * usual), np.flatnonzero(steps < 0.5 * usual)
    if gaps.size:
        first = int(gaps[0])
        return (
            f"slices are not evenly spaced: {gaps.size} gap(s) in steps of {usual:.2f} mm (the first, "
            f"{steps[first]:.2f} mm, after slice {first + 1} of {len(positions)}): a missing slice; the volume "
            "would be distorted"
        )
    if doubles.size:
        first = int(doubles[0])
        return (
            f"slices are not evenly spaced: {doubles.size} step(s) under half the usual {usual:.2f} mm (the "
            f"first, {steps[first]:.2f} mm, after slice {first + 1} of {len(positions)}): two slices at one "
            "position; the volume would be distorted"
        )
    return None


def study_of(series: DicomSeries) -> str:
    """The Study Instance UID of ``series`` (its first file's), "" when blank (a de-identified export)."""
    return str(_header(series.files[0], "StudyInstanceUID").get("StudyInstanceUID", "") or "").strip()


def _where_series_are(folder: Path, enough: int = 4) -> str:
    """The end of the "no series" message: which sub-folders hold DICOM files (the first ``enough`` found)."""
    below_folder = (str(p.relative_to(folder)) for p in _folders_with_dicom_files(folder) if p != folder)
    below = list(itertools.islice(below_folder, enough))
    if not below:
        return ""
    if len(below) == 1:
        return f" directly, but {below[0]} does: give that folder"
    return f" directly, but its sub-folders do ({_named(below)}): give one of them"


def _named(folders: list[str], shown: int = 3) -> str:
    """The first ``shown`` folder names, and "..." when there are more."""
    return ", ".join(folders[:shown]) + (", ..." if len(folders) > shown else "")


def _folders_with_dicom_files(
    folder: Path, max_depth: int | None = None, skip_hidden: bool = False, onerror=None
):
    """``folder`` and the folders below it (sorted, up to ``max_depth`` levels down, links not followed) that hold
    DICOM files (:func:`_holds_dicom_files`), as they are found."""
    for root, dirs, files in os.walk(folder, onerror=onerror):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not (skip_hidden and d.startswith(".")))
        if max_depth is not None and len(here.relative_to(folder).parts) >= max_depth:
            dirs.clear()
        if _holds_dicom_files(here, files):
            yield here


def _holds_dicom_files(folder: Path, files: list[str], enough: int = 20) -> bool:
    """Whether one of the first ``enough`` files of ``folder`` is a DICOM file. Hidden files (macOS ``._`` twins)
    and a CD export's DICOMDIR (an index of the media, not an image) do not count."""
    names = sorted(f for f in files if not f.startswith(".") and f.upper() != "DICOMDIR")
    return any(_is_dicom_file(folder / f) for f in names[:enough])


def _is_dicom_file(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def _header(path: str, *keywords: str) -> dict:
    """The named elements of one file's header (no pixels); those missing or unreadable are left out."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(keywords), force=True)
    except Exception:
        return {}
    return {k: ds.get(k) for k in keywords if ds.get(k) is not None}


class MainSeriesITKReader(ITKReader):
    """MONAI's ``ITKReader`` for DICOM folders: it reads the folder's largest series (``series_name``, when given,
    names another) and refuses a folder :func:`series_to_read` refuses. It claims folders only, so files keep
    MONAI's own reader choice."""

    def verify_suffix(self, filename) -> bool:
        paths = ensure_tuple(filename)
        return len(paths) == 1 and Path(paths[0]).is_dir()

    def read(self, data, **kwargs):
        paths = ensure_tuple(data)  # MONAI's LoadImage hands over a tuple of one path
        if self.series_name or not (len(paths) == 1 and Path(paths[0]).is_dir()):
            return super().read(data, **kwargs)
        series = series_to_read(paths[0])
        reader = ITKReader(series_name=series.identifier, series_meta=self.series_meta, **self.kwargs)
        with warnings.catch_warnings():  # ITKReader's "more than one DICOM series": chosen above
            warnings.filterwarnings("ignore", message=".*more than one DICOM series")
            return reader.read(data, **kwargs)
