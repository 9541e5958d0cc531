import gzip
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from liver3d.check import main as check_main
from liver3d.io.nifti import save_nifti
from liver3d.io.readers import VolumeError, load_volume, read_header, read_volume


def _pair(phantom_dir: Path, index: int = 0) -> tuple[Path, Path]:
    entry = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"][index]
    return phantom_dir / entry["image"], phantom_dir / entry["label"]


def test_load_volume_keeps_geometry(phantom_dir):
    image, _ = _pair(phantom_dir)
    vol = load_volume(image)
    ref = nib.load(image)
    assert tuple(vol.shape) == ref.shape
    assert np.allclose(np.asarray(vol.affine), ref.affine, atol=1e-4)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(VolumeError, match=r"nothere\.nii\.gz: file not found"):
        read_header(tmp_path / "nothere.nii.gz")


def test_truncated_gzip_is_reported_with_its_name(phantom_dir, tmp_path):
    image, _ = _pair(phantom_dir)
    broken = tmp_path / "broken.nii.gz"
    data = image.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(VolumeError, match=r"broken\.nii\.gz: truncated or corrupt gzip"):
        read_volume(broken)
    with pytest.raises(VolumeError, match=r"broken\.nii\.gz"):
        load_volume(broken)


def test_truncated_raw_nifti_is_reported(phantom_dir, tmp_path):
    image, _ = _pair(phantom_dir)
    raw = gzip.decompress(image.read_bytes())
    broken = tmp_path / "short.nii"
    broken.write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(VolumeError, match=r"short\.nii: truncated file"):
        read_volume(broken)


def test_not_a_nifti_is_reported(tmp_path):
    bad = tmp_path / "text.nii.gz"
    bad.write_bytes(b"this is not an image" * 20)
    with pytest.raises(VolumeError, match=r"text\.nii\.gz: unreadable NIfTI header"):
        read_header(bad)


def test_dicom_series_geometry_matches_its_segmentation(real_ct):
    ct = load_volume(real_ct / "dicom_ct")
    seg = nib.load(real_ct / "example_seg_dicom.nii.gz")
    assert tuple(ct.shape) == seg.shape == (512, 512, 20)
    header = read_header(real_ct / "dicom_ct")
    assert np.allclose(header.affine, np.asarray(ct.affine), atol=1e-3)
    assert np.allclose(header.spacing, (0.9765625, 0.9765625, 2.0), atol=1e-4)
    # Same world position for the same voxel, even though the two files store the axes differently.
    corner_ct = np.asarray(ct.affine) @ np.array([0, 0, 0, 1])
    flipped = (
        seg.affine @ np.array([0, 511, 0, 1]) if seg.affine[1, 1] > 0 else seg.affine @ np.array([0, 0, 0, 1])
    )
    assert np.allclose(corner_ct[:3], flipped[:3], atol=1e-2)
    assert float(ct.min()) < -900 and float(ct.max()) > 300  # Hounsfield units after rescale


def _write_faulty_dataset(phantom_dir: Path, out: Path) -> dict[str, str]:
    """Copy the phantom dataset and plant one fault per case; return {fault: file it should name}."""
    shutil.copytree(phantom_dir, out)
    data = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    entries = data["training"]
    faults = {}
    # 0: truncated gzip image
    img0 = out / entries[0]["image"]
    raw = img0.read_bytes()
    img0.write_bytes(raw[: len(raw) // 3])
    faults["truncated"] = img0.name
    # 1: label with a value outside {0, 1, 2} and a shape mismatch on another
    lab1 = out / entries[1]["label"]
    ref = nib.load(lab1)
    arr = np.asarray(ref.dataobj).copy()
    arr[0, 0, 0] = 7
    save_nifti(arr, ref.affine, lab1)
    faults["label values 7"] = lab1.name
    # 2: image/label affine mismatch (label shifted by 5 mm)
    lab2 = out / entries[2]["label"]
    ref = nib.load(lab2)
    shifted = ref.affine.copy()
    shifted[0, 3] += 5
    save_nifti(np.asarray(ref.dataobj), shifted, lab2)
    faults["geometry differs"] = lab2.name
    # 3: NaN in a float image
    img3 = out / entries[3]["image"]
    ref = nib.load(img3)
    farr = np.asarray(ref.dataobj).astype(np.float32)
    farr[1, 1, 1] = np.nan
    save_nifti(farr, ref.affine, img3)
    faults["NaN"] = img3.name
    # extra entries: missing file, 4D volume, absurd spacing, empty label, shape mismatch
    extra = out / "extra"
    extra.mkdir()
    base = nib.load(out / entries[1]["image"])
    base_arr = np.asarray(base.dataobj)
    lab_arr = np.asarray(nib.load(out / entries[2]["label"]).dataobj)
    save_nifti(np.stack([base_arr, base_arr], axis=-1), base.affine, extra / "fourd.nii.gz")
    save_nifti(lab_arr, base.affine, extra / "fourd_label.nii.gz")
    faults["4D"] = "fourd.nii.gz"
    absurd = base.affine.copy()
    absurd[2, 2] = 80.0
    save_nifti(base_arr, absurd, extra / "absurd.nii.gz")
    save_nifti(lab_arr, absurd, extra / "absurd_label.nii.gz")
    faults["absurd voxel spacing"] = "absurd.nii.gz"
    save_nifti(base_arr, base.affine, extra / "empty.nii.gz")
    save_nifti(np.zeros_like(lab_arr), base.affine, extra / "empty_label.nii.gz")
    faults["empty"] = "empty_label.nii.gz"
    save_nifti(base_arr, base.affine, extra / "shape.nii.gz")
    save_nifti(lab_arr[:-2], base.affine, extra / "shape_label.nii.gz")
    faults["does not match image shape"] = "shape_label.nii.gz"
    entries += [
        {"image": "extra/missing.nii.gz", "label": "extra/missing_label.nii.gz", "patient_id": "m"},
        {"image": "extra/fourd.nii.gz", "label": "extra/fourd_label.nii.gz", "patient_id": "f"},
        {"image": "extra/absurd.nii.gz", "label": "extra/absurd_label.nii.gz", "patient_id": "a"},
        {"image": "extra/empty.nii.gz", "label": "extra/empty_label.nii.gz", "patient_id": "e"},
        {"image": "extra/shape.nii.gz", "label": "extra/shape_label.nii.gz", "patient_id": "s"},
    ]
    faults["file not found"] = "missing.nii.gz"
    (out / "dataset.json").write_text(json.dumps(data), encoding="utf-8")
    return faults


def test_check_reports_every_planted_fault_and_exits_1(phantom_dir, tmp_path, capsys):
    faults = _write_faulty_dataset(phantom_dir, tmp_path / "faulty")
    code = check_main([str(tmp_path / "faulty" / "dataset.json")])
    out = capsys.readouterr().out
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith("ERROR")]
    for problem, filename in faults.items():
        assert any(problem in line and filename in line for line in lines), (
            f"{problem} in {filename} not reported:\n{out}"
        )
    assert all(len(line) < 400 for line in lines)  # one line each, no tracebacks
    assert "Traceback" not in out


def test_check_passes_a_clean_dataset(phantom_datalist, capsys):
    assert check_main([str(phantom_datalist)]) == 0
    assert "0 errors" in capsys.readouterr().out


def test_check_reports_a_missing_datalist(tmp_path, capsys):
    assert check_main([str(tmp_path / "nope.json")]) == 1
    assert "nope.json: datalist not found" in capsys.readouterr().out


def test_label_stored_in_another_axis_order_is_named(tmp_path):
    """Same world grid, different voxel order (a LAS mask for a RAS CT): a clear error, not a 'shifted' one."""
    from liver3d.data import check_pair
    from liver3d.geometry import same_world_grid

    ras = np.diag([2.0, 2.0, 3.0, 1.0])
    ras[:3, 3] = [-20, -30, 40]
    image = np.zeros((10, 12, 6), np.int16)
    label = np.zeros((10, 12, 6), np.uint8)
    label[2:5, 3:6, 1:3] = 1
    las = ras.copy()
    las[0, 0] = -2.0
    las[0, 3] = ras[0, 3] + 2.0 * 9  # voxel 0 of LAS is the last RAS voxel along x
    nib.save(nib.Nifti1Image(image, ras), tmp_path / "ct.nii.gz")
    nib.save(nib.Nifti1Image(label[::-1].copy(), las), tmp_path / "seg.nii.gz")
    assert same_world_grid(ras, image.shape, las, label.shape)
    shifted = las.copy()
    shifted[0, 3] += 5.0  # 5 mm off: a different grid
    assert not same_world_grid(ras, image.shape, shifted, label.shape)
    findings = check_pair(str(tmp_path / "ct.nii.gz"), str(tmp_path / "seg.nii.gz"), [0, 1, 2])
    errors = [f for f in findings if f.severity == "ERROR"]
    assert len(errors) == 1 and "another axis order (LAS vs the image's RAS)" in errors[0].problem
