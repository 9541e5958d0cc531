"""A real CT moved to another contrast phase (liver3d.phantoms.real_background.phase_change), on a stand-in
portal-venous CT with a TotalSegmentator-style label map."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from liver3d.io.nifti import save_nifti
from liver3d.phantoms.contrast import PHASE_HU, Phase
from liver3d.phantoms.real_background import (
    RealBackground,
    RealBackgroundError,
    write_real_background_dataset,
)
from liver3d.phantoms.real_background.__main__ import main
from liver3d.phantoms.real_background.phase_change import change_phase, target_densities

NOISE_SD = 8.0
SHAPE = (80, 64, 16)


def _portal_venous_scene():
    """Liver 110 HU with a 170 HU vessel, aorta 180 HU whose mask misses its outer voxel layer, spleen 115 HU,
    muscle 50 HU (label 86), fat -100 HU; white noise. Returns (hu, label map)."""
    rng = np.random.default_rng(1)
    x, y, _ = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    labels = np.zeros(SHAPE, np.uint8)
    hu = np.full(SHAPE, -100.0)
    liver = (x >= 4) & (x < 40) & (y >= 8) & (y < 56)
    hu[liver], labels[liver] = 110.0, 5
    vessel = liver & ((x - 22) ** 2 + (y - 32) ** 2 <= 9)
    hu[vessel] = 170.0
    aorta = (x - 52) ** 2 + (y - 32) ** 2 <= 25
    hu[aorta] = 180.0
    labels[(x - 52) ** 2 + (y - 32) ** 2 <= 16] = 52  # the mask is one voxel too tight
    spleen = (x >= 62) & (x < 76) & (y >= 10) & (y < 30)
    hu[spleen], labels[spleen] = 115.0, 1
    muscle = (x >= 62) & (x < 76) & (y >= 40) & (y < 56)
    hu[muscle], labels[muscle] = 50.0, 86
    return hu + rng.normal(0, NOISE_SD, SHAPE), labels


@pytest.fixture
def scene_files(tmp_path):
    hu, labels = _portal_venous_scene()
    ct, seg = tmp_path / "ct.nii.gz", tmp_path / "seg.nii.gz"
    save_nifti(np.round(hu).astype(np.int16), np.diag([1.5, 1.5, 3.0, 1.0]), ct)
    save_nifti(labels, np.diag([1.5, 1.5, 3.0, 1.0]), seg)
    return ct, seg


def test_tissues_move_to_the_target_phase_and_keep_their_noise():
    hu, labels = _portal_venous_scene()
    liver = labels == 5
    targets = target_densities(np.random.default_rng(0), Phase.NON_CONTRAST)
    out, shifts = change_phase(hu, labels, liver, NOISE_SD, targets)
    moved = {s.tissue: s for s in shifts}
    assert set(moved) == {"liver", "liver_vessels", "spleen", "aorta"}  # muscle is left as it is
    inner = ndimage.binary_erosion(liver, iterations=3) & (hu < 150)
    for tissue, mask in [("liver", inner), ("aorta", labels == 52), ("spleen", labels == 1)]:
        assert abs(float(np.median(out[mask])) - targets[tissue]) < 3, tissue
        assert abs(moved[tissue].median_hu - {"liver": 110, "aorta": 180, "spleen": 115}[tissue]) < 3
    lo, hi = PHASE_HU[Phase.NON_CONTRAST]["liver"]
    assert lo <= targets["liver"] <= hi
    # an additive shift: the parenchyma keeps the scan's noise
    assert abs(float(out[inner].std()) - float(hu[inner].std())) < 0.1 * NOISE_SD
    # the enhanced vessel in the liver is no longer brighter than the parenchyma by its old margin
    core_vessel = ndimage.binary_erosion(liver & (hu > 150))
    assert float(np.median(out[core_vessel])) < targets["liver"] + 20
    # the aorta's voxel layer its mask missed is moved too: no bright ring is left
    ring = ndimage.binary_dilation(labels == 52) & (labels == 0)
    assert float(np.median(out[ring])) < 100 < float(np.median(hu[ring]))
    # muscle and fat away from every tissue are untouched
    far = ~ndimage.binary_dilation(labels > 0, iterations=2) | (labels == 86)
    np.testing.assert_allclose(out[far], hu[far], atol=1e-3)


def test_the_dataset_draws_phases_and_records_the_shifts(scene_files, tmp_path):
    ct, seg = scene_files
    out = tmp_path / "phases"
    path = write_real_background_dataset(
        ct, seg, out, "portal_venous", cases=6, seed=3, liver_value=5, to_phases=["non_contrast", "arterial"]
    )
    entries = json.loads(path.read_text())["training"]
    assert {e["phase"] for e in entries} <= {"non_contrast", "arterial"}
    background = RealBackground.read(ct, seg, liver_value=5)
    for e in entries:
        record = e["real_background"]
        assert record["phase"] == "portal_venous" and "liver" in record["phase_change_hu"]
        lo, hi = PHASE_HU[Phase(e["phase"])]["liver"]
        assert lo <= record["phase_change_hu"]["liver"][1] <= hi
        image = nib.load(out / e["image"]).get_fdata()
        label = nib.load(out / e["label"]).get_fdata()
        parenchyma = ndimage.binary_erosion(label == 1, iterations=2) & (background.ct.array < 150)
        assert abs(float(np.median(image[parenchyma])) - record["phase_change_hu"]["liver"][1]) < 6
    # the CT's own phase among the targets leaves that variant's CT as it is; others do not depend on it
    same = write_real_background_dataset(
        ct,
        seg,
        tmp_path / "same",
        "portal_venous",
        cases=2,
        seed=3,
        liver_value=5,
        to_phases=["portal_venous"],
    )
    plain = write_real_background_dataset(
        ct, seg, tmp_path / "plain", "portal_venous", cases=2, seed=3, liver_value=5
    )
    for a, b in zip(json.loads(same.read_text())["training"], json.loads(plain.read_text())["training"]):
        assert a["real_background"]["phase_change_hu"] == {}
        np.testing.assert_array_equal(
            nib.load(tmp_path / "same" / a["image"]).get_fdata(),
            nib.load(tmp_path / "plain" / b["image"]).get_fdata(),
        )


def test_another_phase_without_a_full_label_map_is_one_line(scene_files, tmp_path, capsys):
    ct, seg = scene_files
    liver_only = tmp_path / "liver_only.nii.gz"
    image = nib.load(seg)
    save_nifti((np.asarray(image.dataobj) == 5).astype(np.uint8) * 5, image.affine, liver_only)
    with pytest.raises(RealBackgroundError, match="full TotalSegmentator label map"):
        write_real_background_dataset(
            ct, liver_only, tmp_path / "o", "portal_venous", cases=1, liver_value=5, to_phases=["arterial"]
        )
    args = [
        "--ct",
        str(ct),
        "--liver-mask",
        str(liver_only),
        "--liver-value",
        "5",
        "--phase",
        "portal_venous",
    ]
    code = main([*args, "--to-phases", "arterial", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0 and err.startswith(f"ERROR {liver_only}: ")
    assert not (tmp_path / "o" / "dataset.json").exists()


def test_the_command_writes_a_montage_of_the_phases_beside_the_ct(scene_files, tmp_path, capsys):
    ct, seg = scene_files
    out = tmp_path / "cli"
    args = ["--ct", str(ct), "--liver-mask", str(seg), "--liver-value", "5", "--phase", "portal_venous"]
    phases = ["--to-phases", "non_contrast", "delayed", "--cases", "3", "--out"]
    assert main([*args, *phases, str(out), "--montage"]) == 0
    png = out / "montage_phases.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = tmp_path / "missing.nii.gz"
    assert main([*args, *phases, str(tmp_path / "o2"), "--montage", "--real", str(missing)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"ERROR {missing}: not found (--real)" and not (tmp_path / "o2").exists()


def test_a_tissue_as_dense_as_the_liver_leaves_the_liver_beside_it_alone():
    rng = np.random.default_rng(2)
    labels = np.zeros(SHAPE, np.uint8)
    labels[4:40, 8:56] = 5
    labels[40:48, 20:40] = 63  # an IVC beside the liver, about as dense as it
    hu = np.where(labels == 5, 100.0, np.where(labels == 63, 104.0, -100.0)) + rng.normal(0, NOISE_SD, SHAPE)
    liver = labels == 5
    targets = target_densities(np.random.default_rng(0), Phase.NON_CONTRAST)
    out, shifts = change_phase(hu, labels, liver, NOISE_SD, targets)
    median = shifts[0].median_hu
    beside = ndimage.binary_dilation(labels == 63) & liver  # the liver's outer layer: its partial volume only
    partial = np.clip((hu[beside] + 100.0) / (median + 100.0), 0, 1)
    np.testing.assert_allclose(out[beside] - hu[beside], partial * (targets["liver"] - median), atol=1e-3)
