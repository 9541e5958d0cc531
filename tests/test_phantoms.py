import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from liver3d.phantoms import generate_phantom, write_phantom_dataset
from liver3d.phantoms.__main__ import main as phantoms_main
from liver3d.phantoms.anatomy import _sample_grid, _sample_layout

SHAPE = (96, 96, 48)


@pytest.fixture(scope="module")
def case():
    return generate_phantom(np.random.default_rng([11, 0]), shape=SHAPE, n_tumors=3)


def test_same_seed_gives_the_same_case():
    a = generate_phantom(np.random.default_rng([5, 2]), shape=(48, 48, 24))
    b = generate_phantom(np.random.default_rng([5, 2]), shape=(48, 48, 24))
    c = generate_phantom(np.random.default_rng([5, 3]), shape=(48, 48, 24))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    assert not np.array_equal(a.image, c.image)


def test_image_is_int16_hu_and_labels_are_0_1_2(case):
    assert case.image.dtype == np.int16 and case.image.shape == SHAPE
    assert set(np.unique(case.label)) <= {0, 1, 2}
    assert case.image.min() >= -1024 and case.image.min() < -900  # air


def test_tissue_densities_look_like_ct(case):
    img, lab = case.image.astype(float), case.label
    core = ndimage.binary_erosion(lab == 1, iterations=2)
    assert 45 <= np.median(img[core]) <= 75  # liver 50-70 HU plus noise
    tumor_core = ndimage.binary_erosion(lab == 2, iterations=1)
    if tumor_core.any():
        assert np.median(img[tumor_core]) < np.median(img[core]) - 10  # hypodense
    assert (img > 300).sum() > 100  # vertebrae and ribs
    assert abs(case.params["spleen_hu"] - case.params["liver_hu"]) <= 15
    assert abs(case.params["kidney_hu"] - case.params["liver_hu"]) <= 15
    assert 10 <= case.params["noise_sd_hu"] <= 20
    # Lung bases near -850 HU appear in the top slices.
    top = img[:, :, -3:]
    assert ((top > -900) & (top < -780)).sum() > 50


def test_noise_level_in_homogeneous_liver(case):
    img, lab = case.image.astype(float), case.label
    core = ndimage.binary_erosion(lab == 1, iterations=3)
    residual = img - ndimage.uniform_filter(img, size=(5, 5, 1))
    sd = residual[core].std()
    assert 5 <= sd <= 25


def test_tumors_are_inside_the_liver_and_recorded(case):
    assert len(case.tumors) == 3
    labelled = int((case.label == 2).sum())
    assert labelled == sum(t.voxels for t in case.tumors)
    for t in case.tumors:
        assert t.voxels > 0 and 5 <= t.equivalent_diameter_mm <= 75
        i, j, k = (int(round(v)) for v in case.grid.to_index(t.center_mm))
        assert case.label[i, j, k] in (1, 2)


def test_default_grid_is_clinical():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        grid = _sample_grid(rng, _sample_layout(rng), None)
        assert grid.shape[:2] == (512, 512)
        assert 0.6 <= grid.spacing[0] <= 0.95
        assert 1.0 <= grid.spacing[2] <= 5.0


def test_dataset_has_decathlon_layout_and_varied_headers(tmp_path):
    path = write_phantom_dataset(tmp_path, cases=6, seed=1, shape=(40, 40, 20))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["labels"] == {"0": "background", "1": "liver", "2": "tumor"}
    assert data["numTraining"] == 6
    orientations = set()
    for entry in data["training"]:
        img = nib.load(tmp_path / entry["image"])
        lab = nib.load(tmp_path / entry["label"])
        assert img.get_data_dtype() == np.int16
        assert np.allclose(img.affine, lab.affine)
        assert "".join(nib.aff2axcodes(img.affine)) == entry["orientation"]
        assert entry["patient_id"]
        orientations.add(entry["orientation"])
    assert len(orientations) >= 2
    assert len({e["patient_id"] for e in data["training"]}) == 6


def test_case_does_not_depend_on_dataset_size(tmp_path):
    small = write_phantom_dataset(tmp_path / "a", cases=1, seed=4, shape=(32, 32, 16))
    write_phantom_dataset(tmp_path / "b", cases=2, seed=4, shape=(32, 32, 16))
    first_a = json.loads(small.read_text(encoding="utf-8"))["training"][0]["image"]
    a = np.asarray(nib.load(tmp_path / "a" / first_a).dataobj)
    b = np.asarray(nib.load(tmp_path / "b" / first_a).dataobj)
    assert np.array_equal(a, b)


def test_cli_writes_dataset(tmp_path, capsys):
    assert (
        phantoms_main(["--out", str(tmp_path), "--cases", "2", "--seed", "0", "--shape", "32", "32", "16"])
        == 0
    )
    assert (tmp_path / "dataset.json").is_file()
    assert len(list((tmp_path / "imagesTr").glob("*.nii.gz"))) == 2
    assert "wrote 2 cases" in capsys.readouterr().out
    assert not list(tmp_path.rglob(".*.nii.gz"))  # no temporary files left behind


def test_cli_rejects_tiny_shapes(tmp_path):
    with pytest.raises(SystemExit):
        phantoms_main(["--out", str(tmp_path), "--shape", "4", "4", "4"])
