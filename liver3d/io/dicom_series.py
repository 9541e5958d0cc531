"""Which image series of a DICOM folder liver3d reads.

A folder exported from a PACS often holds more than the axial CT: a scout, a second reconstruction, a dose
report. MONAI's ``ITKReader`` reads whichever series ITK lists first; liver3d reads the **largest** (the most
slices; ties go to the one listed first), everywhere a folder is read (the header check, the bundles' loader,
``liver3d segment``, the DICOM SEG export), and ``liver3d segment`` says which one it took when there was a
choice. Series are told apart as MONAI's reader tells them apart (ITK's GDCM series names with details, so one
Series Instance UID holding two orientations counts as two series).

:func:`readable_series` also refuses what ITK would read wrongly without a word: a series whose slices are not
evenly spaced (a slice lost in transfer; ITK spreads the rest over one spacing) and a folder that holds the
series only in its sub-folders (the error names them).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from monai.data import ITKReader
from monai.utils import ensure_tuple


class DicomFolderError(ValueError):
    """A folder liver3d cannot read as one CT: no series in it, or its series' slices are not evenly spaced."""


@dataclass(frozen=True)
class DicomSeries:
    """One image series of a folder: ITK's name for it, its files (in ITK's slice order) and its description."""

    identifier: str
    files: tuple[str, ...]
    description: str

    @property
    def slices(self) -> int:
        return len(self.files)

    def describe(self) -> str:
        name = f"'{self.description}'" if self.description else "without a description"
        return f"series {name} ({self.slices} slices)"


def series_in_folder(folder: str | Path) -> list[DicomSeries]:
    """Every image series ITK finds directly in ``folder`` (not in sub-folders), in ITK's order."""
    import itk

    names = itk.GDCMSeriesFileNames.New()
    names.SetUseSeriesDetails(True)  # as MONAI's ITKReader, so the identifiers are the ones it accepts
    names.AddSeriesRestriction("0008|0021")
    names.SetDirectory(str(folder))
    found = []
    for identifier in names.GetSeriesUIDs():
        files = tuple(str(f) for f in names.GetFileNames(identifier))
        found.append(DicomSeries(str(identifier), files, _description(files[0]) if files else ""))
    return found


def main_series(folder: str | Path) -> tuple[DicomSeries, int] | None:
    """The series liver3d reads from ``folder`` (the largest) and how many series the folder holds; None if none."""
    found = series_in_folder(folder)
    if not found:
        return None
    return max(found, key=lambda s: s.slices), len(found)  # max keeps the first of equals


def readable_series(folder: str | Path) -> DicomSeries:
    """The series liver3d reads from ``folder``; :class:`DicomFolderError` when there is none (naming the
    sub-folders that hold one) or when its slices are not evenly spaced."""
    chosen = main_series(folder)
    if chosen is None:
        raise DicomFolderError("folder holds no DICOM series" + _where_series_are(Path(folder)))
    problem = uneven_slices(chosen[0])
    if problem:
        raise DicomFolderError(problem)
    return chosen[0]


def _where_series_are(folder: Path) -> str:
    below = series_folders_below(folder)
    if not below:
        return ""
    if len(below) == 1:
        return f" directly, but {below[0].relative_to(folder)} does: give that folder"
    named = ", ".join(str(p.relative_to(folder)) for p in below[:3]) + (", ..." if len(below) > 3 else "")
    return f" directly, but {len(below)} of its sub-folders do ({named}): give one of them"


def uneven_slices(series: DicomSeries, tolerance: float = 0.1) -> str | None:
    """Why the slices of ``series`` do not make one regular grid (a missing slice, two spacings, two slices at
    one position), or None. ITK reads such a series anyway, onto one spacing from the first to the last slice,
    so the volume and everything segmented on it would be distorted. Spacings may differ from the most common by
    ``tolerance`` of it (at least 0.05 mm)."""
    import pydicom

    positions = []
    for path in series.files:
        try:
            ds = pydicom.dcmread(
                path,
                stop_before_pixels=True,
                specific_tags=["ImagePositionPatient", "ImageOrientationPatient"],
            )
            orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
            position = np.asarray(ds.ImagePositionPatient, dtype=float)
        except Exception:  # a header without positions: ITK's own reading decides
            return None
        positions.append(float(position @ np.cross(orientation[:3], orientation[3:])))
    if len(positions) < 3:
        return None
    steps = np.diff(np.sort(positions))
    usual = float(np.median(steps))
    odd = np.flatnonzero(np.abs(steps - usual) > max(0.05, tolerance * usual))
    if odd.size == 0:
        return None
    first = int(odd[0])
    return (
        f"slices are not evenly spaced: {odd.size} of {steps.size} steps differ from the usual {usual:.2f} mm "
        f"(the first, {steps[first]:.2f} mm, after slice {first + 1} of {len(positions)}): a missing slice or "
        "two series in one; the volume would be distorted"
    )


def series_folders_below(folder: str | Path, limit: int = 200) -> list[Path]:
    """Sub-folders of ``folder`` (any depth, the first ``limit`` looked at) that hold a DICOM series directly:
    what to point at when ``folder`` itself holds none (a PACS export's ``DICOM/<study>/<series>/``)."""
    import SimpleITK as sitk

    found = []
    for sub in sorted(p for p in Path(folder).rglob("*") if p.is_dir())[:limit]:
        if sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(sub)):
            found.append(sub)
    return found


def _description(path: str) -> str:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesDescription"])
    except Exception:  # an unreadable header: the series is still read by ITK, just not described
        return ""
    return str(ds.get("SeriesDescription", "") or "").strip()


class MainSeriesITKReader(ITKReader):
    """MONAI's ``ITKReader``, reading the largest series of a DICOM folder instead of the first ITK lists."""

    def read(self, data, **kwargs):
        paths = ensure_tuple(data)  # MONAI's LoadImage hands over a tuple of one path
        if len(paths) == 1 and Path(paths[0]).is_dir():
            series = readable_series(paths[0])
            reader = ITKReader(series_name=series.identifier, series_meta=self.series_meta, **self.kwargs)
            with warnings.catch_warnings():  # ITKReader's "more than one DICOM series": chosen above
                warnings.filterwarnings("ignore", message=".*more than one DICOM series")
                return reader.read(data, **kwargs)
        return super().read(data, **kwargs)
