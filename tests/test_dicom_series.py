"""A DICOM folder holding several image series: liver3d reads the largest, everywhere, and says so."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from monai.transforms import LoadImage

from liver3d.io.dicom import write_dicom_series
from liver3d.io.dicom_series import largest_series, series_in_folder
from liver3d.io.nifti import save_nifti
from liver3d.io.readers import load_volume, read_header
from liver3d.segment import series_choice
from liver3d.transforms import LoadVolumed

AFFINE = np.diag([1.5, 1.5, 3.0, 1.0])


STUDY = "1.2.826.0.1.3680043.8.498.10"


def _series(
    root: Path, name: str, array: np.ndarray, description: str, series_uid: str | None = None
) -> list[Path]:
    ct = save_nifti(array.astype(np.int16), AFFINE, root / f"{name}.nii.gz")
    return write_dicom_series(
        ct, root / name, series_description=description, study_uid=STUDY, series_uid=series_uid
    )


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """One study folder: a 2-slice scout, then the 9-slice axial CT; ITK lists series by name (their UIDs), so
    with these UIDs the scout is listed first (the first test checks that it is)."""
    root = tmp_path_factory.mktemp("study")
    scout = _series(root, "scout", np.full((12, 10, 2), 500), "scout", series_uid=STUDY + ".1")
    axial = np.arange(12 * 10 * 9).reshape(12, 10, 9) % 200 - 50
    ct = _series(root, "axial", axial, "abdomen 3 mm", series_uid=STUDY + ".2")
    folder = root / "export"
    folder.mkdir()
    for prefix, files in (("a", scout), ("b", ct)):
        for f in files:
            f.rename(folder / f"{prefix}_{f.name}")
    return folder


def test_the_largest_series_is_chosen_not_the_first_listed(study):
    listed = series_in_folder(study)
    assert [s.images for s in listed] == [2, 9]  # the scout first: what MONAI's ITKReader would read
    assert listed[0].description == "scout"
    choice = largest_series(study)
    assert choice.among == 2 and choice.series.images == 9 and choice.series.description == "abdomen 3 mm"
    assert LoadImage(reader="ITKReader", image_only=True)(str(study)).shape[-1] == 2


def test_header_loader_and_bundle_transform_read_the_same_series(study):
    assert read_header(study).shape == (12, 10, 9)
    volume = load_volume(study)
    assert tuple(volume.shape) == (12, 10, 9)
    assert float(volume.max()) < 500  # the scout's constant 500 HU is nowhere
    loaded = LoadVolumed("image")({"image": str(study)})["image"]
    assert np.array_equal(np.asarray(loaded), np.asarray(volume))


def test_segment_warns_which_series_it_read(study, tmp_path):
    (caution,) = series_choice(study)
    assert caution.code == "several_dicom_series"
    assert "holds 2 image series" in caution.message and "'abdomen 3 mm' (9 images)" in caution.message
    single = tmp_path / "single"
    _series(tmp_path, "single", np.zeros((12, 10, 4)), "one")
    assert series_choice(single) == []


def test_a_folder_above_the_series_names_where_they_are(study, tmp_path, capsys):
    from liver3d.io.readers import VolumeError
    from liver3d.segment import main

    export = tmp_path / "DICOM"
    shutil.copytree(study, export / "study1" / "series1")
    with pytest.raises(VolumeError, match="holds no DICOM series directly, but study1/series1 does"):
        read_header(export)
    shutil.copytree(study, export / "study1" / "series2")
    assert main([str(export), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "but its sub-folders do (study1/series1, study1/series2): give one of them" in line
    assert not (tmp_path / "out").exists()


def test_a_series_with_a_missing_slice_is_refused_everywhere(tmp_path, capsys):
    from liver3d.io.readers import VolumeError
    from liver3d.segment import main

    files = _series(tmp_path, "gap", np.zeros((12, 10, 9)), "abdomen")
    files[4].unlink()  # 3 mm steps, one of 6 mm
    folder = tmp_path / "gap"
    expected = re.escape(
        "slices are not evenly spaced: 1 gap(s) in steps of 3.00 mm (the first, 6.00 mm, after"
    )
    with pytest.raises(VolumeError, match=expected):
        read_header(folder)
    with pytest.raises(VolumeError, match=expected):
        load_volume(folder)  # MONAI's plain ITKReader would read it onto one 3.43 mm spacing
    with pytest.raises(VolumeError, match=expected):
        LoadVolumed("image")({"image": str(folder)})
    assert main([str(folder), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert re.match(f"ERROR {re.escape(str(folder))}: {expected}", line) and not (tmp_path / "out").exists()


def test_a_multi_frame_file_is_described_as_the_volume_it_loads_as(tmp_path):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray((np.arange(9 * 10 * 12).reshape(9, 10, 12) % 200).astype(np.uint16))
    image.SetSpacing((1.5, 1.5, 3.0))
    folder = tmp_path / "enhanced"
    folder.mkdir()
    sitk.WriteImage(image, str(folder / "ct.dcm"))  # one file, nine frames
    header, volume = read_header(folder), load_volume(folder)
    assert header.shape == tuple(volume.shape) == (12, 10, 9)  # the header said (12, 10, 1)
    assert np.allclose(header.affine, np.asarray(volume.affine), atol=1e-3)
    assert np.allclose(header.spacing, (1.5, 1.5, 3.0))


def test_a_multi_frame_ct_wins_over_a_scout_of_more_files(tmp_path):
    import SimpleITK as sitk

    folder = tmp_path / "mixed"
    folder.mkdir()
    for f in _series(tmp_path, "scout", np.full((12, 10, 3), 500), "scout"):
        f.rename(folder / f.name)
    image = sitk.GetImageFromArray((np.arange(9 * 10 * 12).reshape(9, 10, 12) % 200).astype(np.uint16))
    sitk.WriteImage(image, str(folder / "enhanced.dcm"))  # one file, nine frames
    choice = largest_series(folder)
    assert choice.among == 2 and choice.series.images == 9 and len(choice.series.files) == 1
    assert tuple(load_volume(folder).shape) == (12, 10, 9)


def test_slices_at_one_position_and_rounded_positions(tmp_path):
    from liver3d.io.dicom_series import DicomSeries, slice_spacing_problem

    def series_at(name: str, z: list[float]) -> DicomSeries:
        import pydicom

        files = _series(tmp_path, name, np.zeros((4, 4, len(z))), name)
        for f, position in zip(files, z, strict=True):
            ds = pydicom.dcmread(f)
            ds.ImagePositionPatient = [0.0, 0.0, position]
            ds.save_as(f)
        return DicomSeries(name, tuple(str(f) for f in files), len(files), name)

    rounded = series_at("rounded", [0.0, 0.6, 1.3, 1.9, 2.5, 3.1, 3.8])  # 0.625 mm written to 0.1 mm
    assert slice_spacing_problem(rounded) is None
    doubled = series_at("doubled", [0.0, 3.0, 3.0, 6.0, 9.0, 12.0])
    assert "two slices at one position" in slice_spacing_problem(doubled)
    phases = series_at("phases", [0.0, 0.0, 3.0, 3.0, 6.0, 6.0])
    assert "share their position" in slice_spacing_problem(phases)


def test_series_written_back_to_back_get_their_own_valid_uids(tmp_path):
    import pydicom

    first = _series(tmp_path, "a", np.zeros((12, 10, 3)), "a")
    second = _series(tmp_path, "b", np.zeros((12, 10, 3)), "b")
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in first + second]
    assert headers[0].SeriesInstanceUID != headers[3].SeriesInstanceUID
    assert len({h.SeriesInstanceUID for h in headers[:3]}) == 1 and {h.StudyInstanceUID for h in headers} == {
        STUDY
    }
    instances = {h.SOPInstanceUID for h in headers}
    frames = {h.FrameOfReferenceUID for h in headers}
    assert len(instances) == 6 and len(frames) == 2
    for uid in instances | frames | {headers[0].SeriesInstanceUID}:
        assert len(uid) <= 64 and re.fullmatch(r"[0-9]+(\.[0-9]+)*", uid), uid
    assert len(series_in_folder(tmp_path / "a")) == 1
