"""Unpacking a zipped CT (:func:`liver3d.io.archive.unpack_ct_zip`): NIfTI, DICOM series, hostile members."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from liver3d.io.archive import MAX_ZIP_MEMBERS, ArchiveError, unpack_ct_zip
from liver3d.io.dicom import write_dicom_series
from liver3d.io.nifti import save_nifti
from liver3d.io.readers import read_volume


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def volume(tmp_path) -> Path:
    """A small int16 CT-like NIfTI."""
    data = np.random.default_rng(0).integers(-1000, 200, size=(12, 10, 6)).astype(np.int16)
    affine = np.diag([1.5, 1.5, 3.0, 1.0])
    affine[:3, 3] = (-10.0, 20.0, -30.0)
    return save_nifti(data, affine, tmp_path / "source" / "ct.nii.gz")


# -- what comes out -------------------------------------------------------------------------------------


def test_single_nifti_becomes_volume_nii_gz(tmp_path, volume):
    data = _zip({"scans/patient 7/ct.nii.gz": volume.read_bytes()})
    result = unpack_ct_zip(data, tmp_path / "out", "upload.zip")
    assert result == tmp_path / "out" / "volume.nii.gz"
    assert result.read_bytes() == volume.read_bytes()
    assert _tree(tmp_path / "out") == {"volume.nii.gz"}
    (got, expected) = (read_volume(result), read_volume(volume))
    np.testing.assert_array_equal(got.array, expected.array)
    np.testing.assert_allclose(got.affine, expected.affine)


def test_uncompressed_nifti_keeps_its_suffix(tmp_path):
    result = unpack_ct_zip(_zip({"CT.NII": b"n" * 400}), tmp_path / "out", "x.zip")
    assert result == tmp_path / "out" / "volume.nii"
    assert result.read_bytes() == b"n" * 400


def test_dicom_members_become_numbered_files_in_a_dicom_folder(tmp_path):
    members = {"series/IM-0001.dcm": b"first", "series/IM-0002": b"second", "IM-0003.DCM": b"third"}
    result = unpack_ct_zip(_zip(members), tmp_path / "out", "series.zip")
    assert result == tmp_path / "out" / "dicom"
    files = sorted(result.iterdir())
    assert [p.name for p in files] == ["00000.dcm", "00001.dcm", "00002.dcm"]
    assert [p.read_bytes() for p in files] == [b"first", b"second", b"third"]
    assert _tree(tmp_path / "out") == {"dicom", *(f"dicom/{p.name}" for p in files)}


def test_zipped_dicom_series_reads_back_on_its_grid(tmp_path, volume):
    slices = write_dicom_series(volume, tmp_path / "series")
    data = _zip({f"export/{p.name}": p.read_bytes() for p in slices})
    result = unpack_ct_zip(data, tmp_path / "out", "series.zip")
    assert len(list(result.iterdir())) == len(slices) == 6
    (got, expected) = (read_volume(result), read_volume(volume))
    np.testing.assert_array_equal(got.array, expected.array)
    np.testing.assert_allclose(got.affine, expected.affine, atol=1e-4)


# -- hostile or stray members -----------------------------------------------------------------------------


def _escape_case(tmp_path: Path) -> tuple[Path, Path]:
    """A target folder two levels below ``base``, with a file beside it that must stay as it is."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "existing.txt").write_text("keep")
    return base, base / "deep" / "out"


def _assert_nothing_outside(tmp_path: Path, before: set[Path], target: Path) -> set[Path]:
    written = _files(tmp_path) - before
    assert all(p.resolve().is_relative_to(target.resolve()) for p in written)
    assert _files(tmp_path) - written == before  # nothing else was created or removed
    assert (tmp_path / "base" / "existing.txt").read_text() == "keep"
    return written


def test_dicom_member_paths_never_escape_the_folder(tmp_path):
    _, target = _escape_case(tmp_path)
    absolute = tmp_path / "absolute_escape.dcm"
    names = [
        "../escape1.dcm",
        "../../escape2.dcm",
        "../../../escape3.dcm",
        "..\\..\\escape4.dcm",
        str(absolute),
        "ok/../../../../escape5.dcm",
        "series/IM-0001.dcm",
    ]
    members = {name: f"payload {i}".encode() for i, name in enumerate(names)}
    before = _files(tmp_path)
    result = unpack_ct_zip(_zip(members), target, "evil.zip")
    assert result == target / "dicom"
    written = _assert_nothing_outside(tmp_path, before, target)
    assert not absolute.exists()
    assert written == set(result.iterdir())
    contents = {p.read_bytes() for p in written}
    # Members are renamed, never placed by their own path (those with ".." parts are skipped as hidden).
    assert {b"payload 4", b"payload 6"} <= contents <= set(members.values())
    assert all(p.name[:5].isdigit() and p.suffix == ".dcm" for p in written)


@pytest.mark.parametrize(
    "name",
    ["../../../escape.nii.gz", "absolute", "a/../../../../escape.nii.gz", "..\\..\\escape.nii"],
)
def test_nifti_member_paths_never_escape_the_folder(tmp_path, name):
    _, target = _escape_case(tmp_path)
    if name == "absolute":
        name = str(tmp_path / "escape.nii.gz")
    before = _files(tmp_path)
    try:
        result = unpack_ct_zip(_zip({name: b"nifti payload"}), target, "evil.zip")
    except ArchiveError:  # refused (a member with ".." parts counts as hidden): also safe
        result = None
    written = _assert_nothing_outside(tmp_path, before, target)
    assert not (tmp_path / "escape.nii.gz").exists()
    if result is not None:
        assert result.parent == target and result.name in ("volume.nii.gz", "volume.nii")
        assert written == {result} and result.read_bytes() == b"nifti payload"


def test_hidden_and_macos_members_are_skipped(tmp_path):
    members = {
        ".DS_Store": b"finder",
        "__MACOSX/series/._IM-0001.dcm": b"resource fork",
        "series/.hidden.dcm": b"hidden",
        "series/.git/config": b"git",
        "series/IM-0001.dcm": b"the slice",
    }
    result = unpack_ct_zip(_zip(members), tmp_path / "out", "mac.zip")
    assert [p.read_bytes() for p in result.iterdir()] == [b"the slice"]


def test_macos_copy_of_a_nifti_does_not_count_as_a_second_volume(tmp_path, volume):
    members = {"__MACOSX/._ct.nii.gz": b"resource fork", "ct.nii.gz": volume.read_bytes()}
    result = unpack_ct_zip(_zip(members), tmp_path / "out", "mac.zip")
    assert result.read_bytes() == volume.read_bytes()


def test_folder_entries_are_not_files(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("series/", b"")  # a folder entry
        archive.writestr("series/IM-0001.dcm", b"slice")
    result = unpack_ct_zip(buffer.getvalue(), tmp_path / "out", "dirs.zip")
    assert [p.read_bytes() for p in result.iterdir()] == [b"slice"]


# -- archives that cannot be used ---------------------------------------------------------------------------


def _refused(data: bytes, folder: Path, name: str = "upload.zip", **kwargs) -> ArchiveError:
    with pytest.raises(ArchiveError) as info:
        unpack_ct_zip(data, folder, name, **kwargs)
    err = info.value
    assert err.path == name and str(err) == f"{name}: {err.problem}"
    assert not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))
    return err


def test_empty_archive_is_refused(tmp_path):
    err = _refused(_zip({}), tmp_path / "out", "empty.zip")
    assert "holds no files" in err.problem


def test_archive_of_hidden_files_only_is_refused(tmp_path):
    err = _refused(_zip({".DS_Store": b"x", "__MACOSX/._a": b"y"}), tmp_path / "out")
    assert "holds no files" in err.problem


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04 truncated header"])
def test_bytes_that_are_not_a_zip_are_refused(tmp_path, data):
    err = _refused(data, tmp_path / "out", "scan.zip")
    assert "not a readable zip archive" in err.problem


def test_two_nifti_members_are_refused(tmp_path, volume):
    data = _zip({"a/ct.nii.gz": volume.read_bytes(), "b/ct2.nii": b"n" * 100})
    err = _refused(data, tmp_path / "out", "two.zip")
    assert "2 NIfTI files" in err.problem


def test_unpacked_size_over_the_given_limit_is_refused(tmp_path):
    err = _refused(_zip({"a.dcm": b"a" * 600, "b.dcm": b"b" * 600}), tmp_path / "out", max_unpacked=1000)
    assert "unpacks to more than" in err.problem


def test_zip_bomb_over_the_default_ratio_is_refused(tmp_path):
    data = _zip({"bomb.dcm": bytes(8 << 20)})  # 8 MB of zeros compress to a few kB
    assert len(data) < 100_000
    err = _refused(data, tmp_path / "out", "bomb.zip")
    assert "unpacks to more than" in err.problem


def test_too_many_members_are_refused(tmp_path):
    data = _zip({f"s/{i}.dcm": b"" for i in range(MAX_ZIP_MEMBERS + 1)}, zipfile.ZIP_STORED)
    err = _refused(data, tmp_path / "out")
    assert f"more than {MAX_ZIP_MEMBERS}" in err.problem


def test_corrupt_member_is_refused_with_its_name(tmp_path):
    data = _zip({"series/IM-0001.dcm": b"A" * 200}, zipfile.ZIP_STORED)
    damaged = data.replace(b"A" * 200, b"B" * 200)  # same size, wrong CRC
    with pytest.raises(ArchiveError) as info:
        unpack_ct_zip(damaged, tmp_path / "out", "bad.zip")
    assert info.value.path == "bad.zip"
    assert "member IM-0001.dcm cannot be unpacked" in info.value.problem
