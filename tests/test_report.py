"""The structured report: numbers against lesions of known size, phantoms' recorded volumes, and bad input."""

import json

import nibabel as nib
import numpy as np
import pytest

from liver3d.report import longest_axial_diameter, measure
from liver3d.report.__main__ import main as report_main

SPACING = (0.8, 0.8, 2.5)


def _known_lesions():
    """A liver block with an ellipsoid (radii 20, 12, 8 mm, turned 30 degrees in the axial plane) and a sphere
    (radius 6 mm), on a 0.8 x 0.8 x 2.5 mm grid stored LPS (so the report must reorder axes)."""
    shape = (120, 120, 40)
    mm = np.stack(np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, SPACING)], indexing="ij"), -1)
    label = np.zeros(shape, np.uint8)
    label[10:110, 10:110, 4:36] = 1
    theta = np.deg2rad(30)
    d = mm - np.array([40.0, 40.0, 50.0])
    u = d[..., 0] * np.cos(theta) + d[..., 1] * np.sin(theta)
    v = -d[..., 0] * np.sin(theta) + d[..., 1] * np.cos(theta)
    label[(u / 20) ** 2 + (v / 12) ** 2 + (d[..., 2] / 8) ** 2 <= 1] = 2
    label[np.linalg.norm(mm - np.array([70.0, 65.0, 40.0]), axis=-1) <= 6] = 2
    ras = np.diag([*SPACING, 1.0])
    lps = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])
    lps[:3, 3] = [(shape[0] - 1) * SPACING[0], (shape[1] - 1) * SPACING[1], 0]  # the same world grid
    return label[::-1, ::-1].copy(), lps, ras


def test_lesions_of_known_size_are_measured_within_a_voxel_and_five_percent():
    label, affine, _ = _known_lesions()
    report = measure(label, affine)
    assert report.lesion_count == 2
    big, small = report.lesions
    assert big.longest_axial_diameter_mm == pytest.approx(40.0, abs=SPACING[0])
    assert small.longest_axial_diameter_mm == pytest.approx(12.0, abs=SPACING[0])
    assert big.volume_ml == pytest.approx(4 / 3 * np.pi * 20 * 12 * 8 / 1000, rel=0.05)
    assert small.volume_ml == pytest.approx(4 / 3 * np.pi * 6**3 / 1000, rel=0.05)
    np.testing.assert_allclose(big.centroid_mm, [40.0, 40.0, 50.0], atol=SPACING[0])
    assert big.slice_range_mm[0] >= 50 - 8 - SPACING[2] and big.slice_range_mm[1] <= 50 + 8 + SPACING[2]
    assert big.diameter_slice == 20  # the ellipsoid's widest axial section is its centre slice (50 mm / 2.5)
    voxel_ml = np.prod(SPACING) / 1000
    assert report.liver_volume_ml == pytest.approx((label > 0).sum() * voxel_ml)
    assert report.tumor_burden_percent == pytest.approx(100 * (label == 2).sum() / (label > 0).sum())


def test_diameter_of_single_pixels_and_lines():
    one = np.zeros((5, 5), bool)
    one[2, 2] = True
    assert longest_axial_diameter(one, (0.7, 0.9)) == pytest.approx(0.9)
    line = np.zeros((10, 5), bool)
    line[2:8, 1] = True  # six pixels along x: 6 x 0.5 mm
    assert longest_axial_diameter(line, (0.5, 2.0)) == pytest.approx(3.0)


def test_report_matches_the_phantoms_recorded_volumes(phantom_dir):
    dataset = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"]
    for case in dataset:
        img = nib.load(str(phantom_dir / case["label"]))
        report = measure(np.asarray(img.dataobj), img.affine)
        assert report.liver_volume_ml == pytest.approx(
            case["liver_volume_ml"], abs=1e-3
        )  # JSON keeps 4 decimals
        recorded = sorted((t["volume_ml"] for t in case["tumors"]), reverse=True)
        assert report.tumor_volume_ml == pytest.approx(sum(recorded), abs=1e-3)
        if report.lesion_count == len(recorded):  # lesions that touch merge into one component
            np.testing.assert_allclose([les.volume_ml for les in report.lesions], recorded, atol=1e-3)


def test_cli_writes_json_markdown_html_and_planes(phantom_dir, tmp_path, capsys):
    case = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"][0]
    out = tmp_path / "rep"
    code = report_main(
        [str(phantom_dir / case["label"]), "--image", str(phantom_dir / case["image"]), "--out", str(out)]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["lesion_count"] == len(report["lesions"])
    assert report["liver_mean_hu"] is not None and 20 < report["liver_mean_hu"] < 100
    assert "Liver volume" in (out / "report.md").read_text(encoding="utf-8") and "<img" in (
        out / "report.html"
    ).read_text(encoding="utf-8")
    png = next(out.glob("*_planes.png"))
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "Lesions:" in capsys.readouterr().out


def test_reports_are_written_as_utf8_even_after_itk_resets_the_locale(phantom_dir, tmp_path):
    """ITK's readers set the C locale in the process, which makes Python's default text encoding ASCII;
    reports hold µL and arrows, so every writer must say UTF-8."""
    import locale

    case = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"][0]
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        code = report_main([str(phantom_dir / case["label"]), "--out", str(tmp_path / "rep")])
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
    assert code == 0 and "µL" in (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")


def test_cli_names_bad_input_and_writes_nothing(phantom_dir, tmp_path, capsys):
    case = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"][0]
    label_img = nib.load(str(phantom_dir / case["label"]))
    bad = np.asarray(label_img.dataobj).copy()
    bad[0, 0, 0] = 7
    bad_path = tmp_path / "bad_seg.nii.gz"
    nib.save(nib.Nifti1Image(bad, label_img.affine), bad_path)
    out = tmp_path / "never"
    assert report_main([str(bad_path), "--out", str(out)]) == 1
    assert "ERROR" in capsys.readouterr().err and not out.exists()
    shifted = tmp_path / "shifted_ct.nii.gz"
    ct = nib.load(str(phantom_dir / case["image"]))
    moved = ct.affine.copy()
    moved[:3, 3] += 12.0
    nib.save(nib.Nifti1Image(np.asarray(ct.dataobj), moved), shifted)
    assert report_main([str(phantom_dir / case["label"]), "--image", str(shifted), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "shifted_ct.nii.gz" in err and "grid" in err and not out.exists()
    assert report_main([str(tmp_path / "missing.nii.gz"), "--out", str(out)]) == 1
    assert "missing.nii.gz" in capsys.readouterr().err


def test_bundle_report_step_writes_one_report_per_segmented_case(phantom_dir, tmp_path, caplog):
    """``report.json`` of liver_tumor_seg calls this after inference: one report folder per ``*_seg.nii.gz``."""
    import shutil

    from liver3d.report import reports_for_outputs

    dataset = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"]
    data = [{"image": str(phantom_dir / e["image"])} for e in dataset[:2]]
    name = dataset[0]["image"].split("/")[-1].replace(".nii.gz", "")
    shutil.copy(phantom_dir / dataset[0]["label"], tmp_path / f"{name}_seg.nii.gz")
    folders = reports_for_outputs(data, tmp_path)
    assert [f.name for f in folders] == [f"{name}_report"]
    assert (folders[0] / "report.json").is_file()
    assert "no segmentation for" in caplog.text  # the second case has none
