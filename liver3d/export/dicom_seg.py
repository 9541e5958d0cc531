"""DICOM SEG output (highdicom) for a label map made from a DICOM series: what PACS and clinical viewers read.

:func:`write_dicom_seg` takes a label map on the series' grid (as ``liver3d segment`` writes it, any storage
order, RAS affine) and the series folder; it finds, for every pixel of every source slice, the label voxel at
the same world position (the grids must coincide: one voxel per pixel, half a voxel of slack), and writes one
binary DICOM Segmentation instance that references the source series: one segment per foreground label of
the label table, named and coded as the table says (SNOMED CT category and type), with the table's colour,
algorithm type AUTOMATIC and liver3d as the algorithm. Empty frames are omitted; a label absent from the map
still has its segment described.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liver3d.errors import InputError
from liver3d.io.atomic import atomic_path
from liver3d.io.dicom_series import DicomFolderError, series_to_read
from liver3d.labels import load_label_table

SERIES_DESCRIPTION = "liver3d liver and tumor segmentation"
#: Largest distance (in voxels) between a source pixel's centre and the label voxel centre it takes.
GRID_TOLERANCE = 0.1


class DicomSegError(InputError):
    """A DICOM series or label map that cannot give a DICOM SEG: ``<path>: <problem>``."""


def repair_identifiers(datasets: list) -> list[str]:
    """Fill identifiers that de-identification blanked, in memory; returns what was filled.

    SOP Class and Instance UIDs come back from each file's meta header (the same identity). A blank Study,
    Series or Frame of Reference UID is derived from the first of those the series does have (stable: the
    same series always gets the same one), so the SEG still references its slices consistently; the caller
    is told, since a PACS would not know those UIDs.
    """
    from pydicom.uid import generate_uid

    filled = set()
    from_meta = {"SOPClassUID": "MediaStorageSOPClassUID", "SOPInstanceUID": "MediaStorageSOPInstanceUID"}
    for ds in datasets:
        meta = getattr(ds, "file_meta", None)
        for keyword, meta_keyword in from_meta.items():
            if not str(ds.get(keyword, "") or "") and meta is not None and meta.get(meta_keyword):
                setattr(ds, keyword, meta.get(meta_keyword))
                filled.add(keyword)
    anchor = next(
        (
            str(ds.get(k))
            for k in ("FrameOfReferenceUID", "SeriesInstanceUID", "StudyInstanceUID")
            for ds in datasets
            if str(ds.get(k, "") or "")
        ),
        "",
    )
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        if not all(str(ds.get(keyword, "") or "") for ds in datasets):
            if not anchor:
                raise DicomSegError(
                    keyword, "blank in the source series and no Frame of Reference UID to derive it from"
                )
            uid = generate_uid(entropy_srcs=[anchor, keyword])
            for ds in datasets:
                setattr(ds, keyword, uid)
            filled.add(keyword)
    missing = [
        k for k in ("SOPClassUID", "SOPInstanceUID") if not all(str(ds.get(k, "") or "") for ds in datasets)
    ]
    if missing:
        raise DicomSegError(", ".join(missing), "blank in the source series and not in the file meta headers")
    return sorted(filled)


def read_series(folder: str | Path) -> list:
    """The CT slices of the series liver3d segments in ``folder`` (its largest, :mod:`liver3d.io.dicom_series`):
    pydicom datasets, unsorted."""
    import pydicom

    folder = Path(folder)
    try:
        files = series_to_read(folder).files
    except DicomFolderError as err:
        raise DicomSegError(folder, str(err)) from err
    datasets = []
    for path in files:
        try:
            ds = pydicom.dcmread(str(path))
        except Exception as err:  # GDCM listed it, pydicom cannot read it
            raise DicomSegError(path, f"unreadable DICOM file ({str(err).splitlines()[0][:200]})") from err
        if "PixelData" in ds and "ImagePositionPatient" in ds:
            datasets.append(ds)
    if not datasets:
        raise DicomSegError(folder, "no DICOM images with pixel data and positions")
    return datasets


def _frames(labels: np.ndarray, affine: np.ndarray, datasets: list, source: Path) -> np.ndarray:
    """(frames, rows, columns) label values sampled at each source pixel's world position."""
    inverse = np.linalg.inv(np.asarray(affine, dtype=float))
    out = np.zeros((len(datasets), int(datasets[0].Rows), int(datasets[0].Columns)), dtype=np.uint8)
    for i, ds in enumerate(datasets):
        rows, cols = int(ds.Rows), int(ds.Columns)
        row_dir, col_dir = (
            np.asarray(ds.ImageOrientationPatient[:3], float),
            np.asarray(ds.ImageOrientationPatient[3:], float),
        )
        dr, dc = (float(v) for v in ds.PixelSpacing)  # spacing between rows, between columns
        r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        lps = (
            np.asarray(ds.ImagePositionPatient, float)
            + c[..., None] * dc * row_dir
            + r[..., None] * dr * col_dir
        )
        ras = lps * np.array([-1.0, -1.0, 1.0])
        ijk = ras @ inverse[:3, :3].T + inverse[:3, 3]
        index = np.rint(ijk).astype(int)
        off_grid = np.abs(ijk - index).max() > GRID_TOLERANCE
        if off_grid or (index < 0).any() or (index >= labels.shape).any():
            raise DicomSegError(
                source, f"label map grid does not cover slice {ds.get('InstanceNumber', i)} of the series"
            )
        out[i] = labels[index[..., 0], index[..., 1], index[..., 2]]
    return out


@dataclass
class DicomSegResult:
    path: Path
    filled_identifiers: list[str]  # source UIDs that were blank and were filled in (see repair_identifiers)


def write_dicom_seg(
    labels: np.ndarray, affine: np.ndarray, series_folder: str | Path, out_path: str | Path, version: str = ""
) -> DicomSegResult:
    """Write the DICOM SEG of ``labels`` (on the series' grid, RAS ``affine``) for the series in ``series_folder``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import ExplicitVRLittleEndian

    source = Path(series_folder)
    datasets = read_series(source)
    filled = repair_identifiers(datasets)
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise DicomSegError(out_path, f"expected a 3D label map, got shape {labels.shape}")
    frames = _frames(labels, affine, datasets, source)
    table = load_label_table()
    unknown = sorted(set(np.unique(frames).tolist()) - set(table.values))
    if unknown:
        raise DicomSegError(out_path, f"label values {unknown} are not in the label table")
    algorithm = hd.AlgorithmIdentificationSequence(
        name="liver3d", family=codes.cid7162.ArtificialIntelligence, version=version or "unknown"
    )
    descriptions, numbers = [], {}
    for number, lab in enumerate(table.foreground, start=1):
        category, kind = lab.code("category"), lab.code("type")
        if category is None or kind is None:
            raise DicomSegError("labels.json", f"label {lab.name!r} has no DICOM codes (category, type)")
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=lab.name,
                segmented_property_category=hd.sr.CodedConcept(category[1], category[0], category[2]),
                segmented_property_type=hd.sr.CodedConcept(kind[1], kind[0], kind[2]),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                display_color=hd.color.CIELabColor.from_rgb(*lab.color),
            )
        )
        numbers[lab.value] = number
    segment_map = np.zeros(max(table.values) + 1, dtype=np.uint8)
    for value, number in numbers.items():
        segment_map[value] = number
    first = datasets[0]
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=segment_map[frames],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=int(first.get("SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="liver3d",
        manufacturer_model_name="liver_tumor_seg",
        software_versions=version or "unknown",
        device_serial_number="0",
        content_description=SERIES_DESCRIPTION[:64],
        transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        seg.save_as(str(tmp))
    return DicomSegResult(out_path, filled)
