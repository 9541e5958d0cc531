"""Synthetic lesions planted in a real CT (liver3d.phantoms.real_background), on a small stand-in 'real' CT."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from liver3d.io.nifti import save_nifti
from liver3d.phantoms.contrast import Phase
from liver3d.phantoms.real_background import (
    RealBackground,
    RealBackgroundError,
    plant_variant,
    write_real_background_dataset,
)
from liver3d.phantoms.real_background.__main__ import main

NOISE_SD = 10.0


@pytest.fixture
def real_ct(tmp_path):
    """A 'real' CT in LAS order: a 100 HU liver ellipsoid in 40 HU tissue with white noise, mask value 5."""
    rng = np.random.default_rng(0)
    shape = (72, 64, 24)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    liver = (x / 0.7) ** 2 + (y / 0.6) ** 2 + (z / 0.9) ** 2 < 1
    hu = np.where(liver, 100.0, 40.0) + rng.normal(0, NOISE_SD, shape)
    affine = np.diag([-1.5, 1.5, 3.0, 1.0])  # LAS: the reader must put it in RAS order
    ct, mask = tmp_path / "ct.nii.gz", tmp_path / "seg.nii.gz"
    save_nifti(hu.astype(np.int16), affine, ct)
    save_nifti(np.where(liver, 5, 0).astype(np.uint8), affine, mask)
    return ct, mask, liver[::-1]  # the liver in RAS order


def test_background_measures_liver_density_and_noise(real_ct):
    ct, mask, liver_ras = real_ct
    bg = RealBackground.read(ct, mask, liver_value=5)
    assert bg.ct.axcodes == "RAS"
    np.testing.assert_array_equal(bg.liver, liver_ras)
    assert abs(bg.liver_hu - 100.0) < 2.0
    # the residual after smoothing keeps most, not all, of white noise: the measured SD is near, below, 10 HU
    assert 0.6 * NOISE_SD < bg.noise_sd_hu < 1.1 * NOISE_SD


def test_lesions_stay_in_the_liver_and_keep_the_background_noise(real_ct):
    ct, mask, _ = real_ct
    bg = RealBackground.read(ct, mask, liver_value=5)
    hu, label, lesions = plant_variant(bg, Phase.PORTAL_VENOUS, np.random.default_rng(3), count=4)
    assert lesions and set(np.unique(label)) <= {0, 1, 2}
    tumor = label == 2
    assert tumor.any() and not (tumor & ~bg.liver).any()  # lesions only where the real mask says liver
    np.testing.assert_array_equal(label > 0, bg.liver)  # the liver outline is the real mask's
    # inside large lesions the noise is the background's, not the smooth lesion density of the phantom model
    core = ndimage.binary_erosion(tumor, iterations=2)
    if core.sum() > 200:
        residual = hu - ndimage.gaussian_filter(hu, 1.0)
        assert residual[core].std() > 0.5 * residual[bg.liver & ~tumor].std()
    # outside the lesions nothing changed
    np.testing.assert_array_equal(hu[~tumor & (label == 0)], bg.ct.array[~tumor & (label == 0)])


def test_dataset_is_deterministic_and_one_patient(real_ct, tmp_path):
    ct, mask, _ = real_ct
    a = write_real_background_dataset(ct, mask, tmp_path / "a", "arterial", cases=3, seed=7, liver_value=5)
    b = write_real_background_dataset(ct, mask, tmp_path / "b", "arterial", cases=2, seed=7, liver_value=5)
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert len(da["training"]) == 3 and {e["patient_id"] for e in da["training"]} == {"REAL-real_bg"}
    for ea, eb in zip(da["training"], db["training"]):  # variant i of a seed does not depend on --cases
        assert ea["tumors"] == eb["tumors"]
        ia = nib.load(tmp_path / "a" / ea["image"]).get_fdata()
        ib = nib.load(tmp_path / "b" / eb["image"]).get_fdata()
        np.testing.assert_array_equal(ia, ib)
    entry = da["training"][0]
    label = nib.load(tmp_path / "a" / entry["label"])
    assert label.get_data_dtype() == np.uint8 and nib.aff2axcodes(label.affine) == ("R", "A", "S")


def test_a_mask_on_another_grid_or_without_the_liver_value_is_one_line(real_ct, tmp_path, capsys):
    ct, mask, _ = real_ct
    other = tmp_path / "other.nii.gz"
    save_nifti(np.zeros((10, 10, 10), np.uint8), np.eye(4), other)
    with pytest.raises(RealBackgroundError, match="does not match the CT"):
        RealBackground.read(ct, other, liver_value=5)
    with pytest.raises(RealBackgroundError, match="liver value 1"):
        RealBackground.read(ct, mask, liver_value=1)
    code = main(
        ["--ct", str(ct), "--liver-mask", str(other), "--phase", "delayed", "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.count("\n") == 0 and err.startswith(f"ERROR {other}: ")  # as every command
    assert not (tmp_path / "o" / "dataset.json").exists()


def test_the_liver3d_command_writes_a_dataset(real_ct, tmp_path):
    from liver3d.cli import main as cli

    ct, mask, _ = real_ct
    out = tmp_path / "cli"
    args = ["--ct", str(ct), "--liver-mask", str(mask), "--liver-value", "5", "--phase", "non_contrast"]
    assert cli(["real-background", *args, "--cases", "2", "--out", str(out)]) == 0
    entries = json.loads((out / "dataset.json").read_text())["training"]
    assert [e["phase"] for e in entries] == ["non_contrast", "non_contrast"]
    assert all((out / e["image"]).exists() and (out / e["label"]).exists() for e in entries)


def test_a_volume_that_is_not_a_ct_in_hu_is_refused(tmp_path):
    shape = (40, 40, 12)
    liver = np.zeros(shape, bool)
    liver[8:32, 8:32, 2:10] = True
    mask = tmp_path / "seg.nii.gz"
    save_nifti(np.where(liver, 1, 0).astype(np.uint8), np.eye(4), mask)
    scaled = tmp_path / "mr.nii.gz"  # intensities of an MR or a [0, 1]-scaled image, not HU
    save_nifti(np.where(liver, 900.0, 300.0).astype(np.float32), np.eye(4), scaled)
    with pytest.raises(RealBackgroundError, match="not a CT in HU"):
        RealBackground.read(scaled, mask, liver_value=1)
    nan = tmp_path / "nan.nii.gz"
    image = np.where(liver, 60.0, 0.0).astype(np.float32)
    image[0, 0, 0] = np.nan
    save_nifti(image, np.eye(4), nan)
    with pytest.raises(RealBackgroundError, match="1 NaN"):
        RealBackground.read(nan, mask, liver_value=1)


def test_the_release_training_chain_takes_real_background_cases_without_a_tissue_map(real_ct, tmp_path):
    """The stage-2 release recipe trains on phantoms (with tissue maps) and real-background cases (without)."""
    from monai.bundle import ConfigParser

    from liver3d.paths import REPO_ROOT
    from liver3d.phantoms.dataset import write_phantom_dataset

    ct, mask, _ = real_ct
    real = json.loads(
        write_real_background_dataset(ct, mask, tmp_path / "r", "delayed", 1, liver_value=5).read_text()
    )
    phantom_list = write_phantom_dataset(
        tmp_path / "p", 1, seed=3, shape=(64, 64, 32), n_tumors=2, tissues=True
    )
    phantom = json.loads(phantom_list.read_text())["training"][0]
    assert "tissue" in phantom and "tissue" not in real["training"][0]
    configs = REPO_ROOT / "bundles" / "liver_tumor_seg" / "configs"
    parser = ConfigParser()
    parser.read_config(
        [
            str(configs / f)
            for f in ("train.json", "train_release.json", "train_stage2.json", "train_release_stage2.json")
        ]
    )
    parser.update({"roi_size": [32, 32, 16], "bundle_root": str(tmp_path / "b")})
    chain = parser.get_parsed_content("train#preprocessing")
    for folder, entry in ((tmp_path / "r", real["training"][0]), (tmp_path / "p", phantom)):
        entry = {k: str(folder / v) if k in ("image", "label", "tissue") else v for k, v in entry.items()}
        for patch in chain(entry):
            assert tuple(patch["image"].shape) == (1, 32, 32, 16) and "tissue" not in patch
            assert set(patch["label"].unique().tolist()) <= {0.0, 1.0, 2.0}
