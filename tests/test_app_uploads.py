"""The viewer's upload staging: server-chosen names, the foundation's checks, zip safety, limits."""

import gzip
import io
import zipfile

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from liver3d.app.uploads import UploadError, display_name, stage_upload
from liver3d.io.dicom import write_dicom_series
from liver3d.io.readers import read_volume

MB = 2**20


def _nifti_bytes(array, affine=None) -> bytes:
    image = nib.Nifti1Image(array, np.diag([1.5, 1.5, 2.0, 1.0]) if affine is None else affine)
    return gzip.compress(image.to_bytes())


@pytest.fixture(scope="module")
def phantom_bytes(phantom_dir):
    return next((phantom_dir / "imagesTr").glob("*.nii.gz")).read_bytes()


def test_a_volume_is_stored_under_a_server_name_whatever_the_client_calls_it(tmp_path, phantom_bytes):
    staged = stage_upload("../../etc/passwd/../case 7.nii.gz", phantom_bytes, tmp_path / "in", 50 * MB)
    assert staged.path == tmp_path / "in" / "input.nii.gz"
    assert staged.kind == "volume" and staged.shape == (64, 64, 32)
    assert staged.display_name == "case 7.nii.gz" and staged.stem == "case 7"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["input.nii.gz"]


def test_display_names_lose_folders_and_odd_characters():
    assert display_name("C:\\Users\\x\\scan<1>.nii.gz") == "scan_1_.nii.gz"
    assert display_name("") == "upload"


@pytest.mark.parametrize(
    "name, data, problem",
    [
        ("ct.nii.gz", "truncated", "truncated"),
        ("ct.nii.gz", "4d", "4D"),
        ("ct.nii.gz", "nan", "NaN"),
        ("ct.exe", "phantom", "not a supported file"),
        ("ct.nii.gz", b"", "empty"),
        ("series.zip", b"PK\x03\x04 not really a zip", "not a readable zip"),
    ],
)
def test_bad_uploads_name_the_file_and_leave_nothing(tmp_path, phantom_bytes, name, data, problem):
    payload = {
        "truncated": phantom_bytes[: len(phantom_bytes) // 2],
        "4d": _nifti_bytes(np.zeros((8, 8, 8, 2), np.int16)),
        "nan": _nifti_bytes(np.full((8, 8, 8), np.nan, np.float32)),
        "phantom": phantom_bytes,
    }.get(data, data)
    with pytest.raises(UploadError) as err:
        stage_upload(name, payload, tmp_path / "in", 50 * MB)
    assert str(err.value).startswith(f"{name}:") and problem in str(err.value)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_the_size_limit_is_checked_before_anything_is_written(tmp_path):
    with pytest.raises(UploadError, match="over the upload limit of 1 MB"):
        stage_upload("big.nii.gz", b"x" * (MB + 1), tmp_path / "in", MB)
    assert not (tmp_path / "in").exists()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zipped_dicom_series_unpacks_to_numbered_files_on_the_same_world_grid(tmp_path, phantom_dir):
    source = next((phantom_dir / "imagesTr").glob("*.nii.gz"))
    slices = write_dicom_series(source, tmp_path / "series")
    members = {f"export/CT/{p.name}": p.read_bytes() for p in slices}
    members["../../outside.dcm"] = b"never written"
    members["__MACOSX/._slice"] = b"resource fork"
    staged = stage_upload("scan.zip", _zip(members), tmp_path / "in", 50 * MB)
    assert staged.kind == "volume" and staged.path == tmp_path / "in" / "dicom"
    assert sorted(p.name for p in staged.path.iterdir()) == [f"{i:05d}.dcm" for i in range(len(slices))]
    assert not (tmp_path / "outside.dcm").exists() and not (tmp_path.parent / "outside.dcm").exists()
    a, b = read_volume(source).to_ras(), read_volume(staged.path).to_ras()
    assert np.array_equal(a.array, b.array) and np.allclose(a.spacing, b.spacing, atol=1e-4)


def test_a_zip_that_unpacks_too_large_is_refused(tmp_path):
    bomb = _zip({"a.dcm": b"\0" * (4 * MB)})
    with pytest.raises(UploadError, match="unpacks to more than"):
        stage_upload("bomb.zip", bomb, tmp_path / "in", MB // 8)


def test_a_2d_image_is_read_and_checked(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (48, 1))).save(buffer, "PNG")
    staged = stage_upload("xray.png", buffer.getvalue(), tmp_path / "in", MB)
    assert staged.kind == "image2d" and staged.shape == (48, 64) and staged.path.name == "input.png"
    with pytest.raises(UploadError, match="xray.png: "):
        stage_upload("xray.png", buffer.getvalue()[:40], tmp_path / "in", MB)


def test_session_folders_are_private_and_stale_ones_are_removed(tmp_path):
    import os
    import time

    from liver3d.app.workspace import new_session_dir, remove_stale_sessions

    old = new_session_dir(tmp_path)
    (old / "input.nii.gz").write_bytes(b"x")
    assert oct(old.stat().st_mode & 0o777) == "0o700"
    past = time.time() - 7200
    for path in (old, old / "input.nii.gz"):
        os.utime(path, (past, past))
    fresh = new_session_dir(tmp_path, max_age_s=3600)  # creating a session sweeps the stale ones
    assert not old.exists() and fresh.is_dir()
    assert remove_stale_sessions(tmp_path, max_age_s=3600) == []
