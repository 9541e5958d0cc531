"""DICOM SEG output: read back with highdicom and pydicom, pixel for pixel against the label map, and
``liver3d segment --dicom-seg`` end to end (on a written series and on the real de-identified series)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

hd = pytest.importorskip("highdicom")

from liver3d.export.dicom_seg import DicomSegError, write_dicom_seg  # noqa: E402
from liver3d.io.dicom import write_dicom_series  # noqa: E402
from liver3d.io.dicom_series import series_in_folder  # noqa: E402
from liver3d.io.nifti import save_nifti  # noqa: E402
from liver3d.io.readers import read_volume  # noqa: E402
from liver3d.phantoms import generate_phantom  # noqa: E402
from liver3d.segment import main as segment_main  # noqa: E402

REAL_DICOM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real_ct" / "dicom_ct"


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A 40x40x12 phantom as a DICOM series, and a label map on its grid (liver and a tumor block)."""
    root = tmp_path_factory.mktemp("dseg")
    case = generate_phantom(np.random.default_rng(3), shape=(40, 40, 12), n_tumors=1)
    ct = save_nifti(case.image.astype(np.int16), case.affine_ras, root / "ct.nii.gz")
    folder = root / "series"
    write_dicom_series(ct, folder)
    series = read_volume(folder)
    labels = (np.asarray(series.array) > 30).astype(np.uint8)
    labels[5:15, 8:20, 2:6] = 2  # asymmetric, so any flip or transposition shows
    return folder, labels, series.affine, root


def _series_files(folder: Path) -> list[str]:
    return list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))


def _labels_on_series_grid(labels, affine, folder: Path, tmp: Path) -> np.ndarray:
    """The label map resampled (nearest, identity) onto SimpleITK's reading of the series: (slices, rows, cols)."""
    path = save_nifti(labels, affine, tmp / "labels_for_check.nii.gz")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(_series_files(folder))
    image = reader.Execute()
    moved = sitk.Resample(sitk.ReadImage(str(path)), image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(moved)


def test_segments_codes_references_and_every_pixel(series, tmp_path):
    folder, labels, affine, _ = series
    result = write_dicom_seg(labels, affine, folder, tmp_path / "seg.dcm", "9.9")
    assert result.filled_identifiers == []  # the written series has all its UIDs
    seg = hd.seg.segread(str(result.path))
    described = {d.segment_number: d for d in seg.SegmentSequence}
    assert {n: d.segment_label for n, d in described.items()} == {1: "liver", 2: "tumor"}
    assert described[1].segmented_property_type.value == "10200004"  # SNOMED CT Liver
    assert described[2].segmented_property_category.value == "49755003"
    assert str(described[1].SegmentAlgorithmType) == "AUTOMATIC"
    files = _series_files(folder)
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    frames = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[s.SOPInstanceUID for s in sources],
        segment_numbers=[1, 2],
        combine_segments=True,
    )
    expected = _labels_on_series_grid(labels, affine, folder, tmp_path)
    assert frames.shape == expected.shape and np.array_equal(frames, expected)


def test_a_folder_with_a_scout_references_only_the_series_it_segments(series, tmp_path):
    _, labels, affine, root = series
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    scout = save_nifti(np.full((40, 40, 2), 500, np.int16), np.eye(4), tmp_path / "scout.nii.gz")
    # One study; ITK lists series by name (their UIDs), so with these the scout is listed first.
    study = "1.2.826.0.1.3680043.8.498.20"
    written = write_dicom_series(scout, tmp_path / "scout", "scout", study_uid=study, series_uid=study + ".1")
    written += write_dicom_series(
        root / "ct.nii.gz", tmp_path / "ct", study_uid=study, series_uid=study + ".2"
    )
    for f in written:
        f.rename(mixed / f"{f.parent.name}_{f.name}")
    assert series_in_folder(mixed)[0].description == "scout"  # what reading the first series would take
    result = write_dicom_seg(labels, affine, mixed, tmp_path / "seg.dcm")
    seg = hd.seg.segread(str(result.path))
    (referenced,) = seg.ReferencedSeriesSequence
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(mixed.glob("ct_*.dcm"))]
    assert referenced.SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert {r.ReferencedSOPInstanceUID for r in referenced.ReferencedInstanceSequence} == {
        s.SOPInstanceUID for s in sources
    }


def test_a_label_map_off_the_series_grid_is_refused(series, tmp_path):
    folder, labels, affine, _ = series
    shifted = affine.copy()
    shifted[:3, 3] += 0.7 * np.abs(np.diag(affine)[:3])  # most of a voxel off
    with pytest.raises(DicomSegError, match="does not cover slice|label map grid"):
        write_dicom_seg(labels, shifted, folder, tmp_path / "seg.dcm")
    assert not (tmp_path / "seg.dcm").exists()


def test_segment_dicom_seg_end_to_end_and_nifti_refused(series, tmp_path, capsys):
    folder, _, _, root = series
    out = tmp_path / "out"
    assert segment_main([str(folder), "-o", str(out), "--dicom-seg", "--quiet", "--no-slicer"]) == 0
    record = json.loads((out / "series_result.json").read_text())
    assert record["outputs"]["dicom_seg"]["path"].endswith("series_seg.dcm")
    seg = hd.seg.segread(str(out / "series_seg.dcm"))
    label = nib.load(str(out / "series_seg.nii.gz"))
    files = _series_files(folder)
    uids = [pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files]
    frames = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=[1, 2], combine_segments=True
    )
    expected = _labels_on_series_grid(np.asarray(label.dataobj), label.affine, folder, tmp_path)
    assert np.array_equal(frames, expected)
    capsys.readouterr()
    bad_out = tmp_path / "bad"
    assert segment_main([str(root / "ct.nii.gz"), "-o", str(bad_out), "--dicom-seg", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dicom-seg needs a DICOM series" in err[0] and not bad_out.exists()


@pytest.mark.skipif(not REAL_DICOM.is_dir(), reason="../shared/data/real_ct not present")
def test_real_deidentified_series_gets_a_seg_and_a_warning(tmp_path):
    out = tmp_path / "real"
    assert segment_main([str(REAL_DICOM), "-o", str(out), "--dicom-seg", "--quiet", "--no-slicer"]) == 0
    record = json.loads((out / "dicom_ct_result.json").read_text())
    assert "dicom_identifiers" in {w["code"] for w in record["warnings"]}
    seg = hd.seg.segread(str(out / "dicom_ct_seg.dcm"))
    label = nib.load(str(out / "dicom_ct_seg.nii.gz"))
    uids = [
        pydicom.dcmread(f, stop_before_pixels=True).file_meta.MediaStorageSOPInstanceUID
        for f in _series_files(REAL_DICOM)
    ]
    frames = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=[1, 2], combine_segments=True
    )
    assert np.array_equal(
        frames, _labels_on_series_grid(np.asarray(label.dataobj), label.affine, REAL_DICOM, tmp_path)
    )
