"""LoadVolumed decodes .nii.gz voxels with SimpleITK: the array, affine and metadata must equal nibabel's."""

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import LoadImaged

from liver3d.phantoms import generate_phantom
from liver3d.phantoms.dataset import reorient
from liver3d.transforms import LoadVolumed


def _nibabel(path):
    return LoadImaged(keys="image", image_only=True, dtype=np.float32, reader="NibabelReader")(
        {"image": str(path)}
    )["image"]


@pytest.mark.parametrize("axcodes", ["RAS", "LPS", "LAS"])
def test_fast_reader_gives_nibabels_array_and_geometry(tmp_path, axcodes):
    case = generate_phantom(np.random.default_rng([3, 1]), shape=(40, 36, 20), phase="arterial")
    image, affine = reorient(case.image, case.affine_ras, axcodes)
    path = tmp_path / f"ct_{axcodes}.nii.gz"
    nib.save(nib.Nifti1Image(image, affine), path)
    fast = LoadVolumed(keys="image")({"image": str(path)})["image"]
    slow = _nibabel(path)
    assert torch.equal(fast, slow)
    assert torch.allclose(fast.affine, slow.affine)
    assert np.array_equal(fast.meta["spatial_shape"], slow.meta["spatial_shape"])
    assert np.allclose(fast.meta["original_affine"], slow.meta["original_affine"])


def test_scaled_and_4d_files_still_read_exactly(tmp_path):
    raw = np.arange(24 * 20 * 10, dtype=np.int16).reshape(24, 20, 10) % 700
    scaled = nib.Nifti1Image(raw, np.diag([0.8, 0.8, 2.5, 1.0]))
    scaled.header.set_slope_inter(2.0, -1024.0)
    nib.save(scaled, tmp_path / "scaled.nii.gz")
    fast = LoadVolumed(keys="image")({"image": str(tmp_path / "scaled.nii.gz")})["image"]
    assert torch.allclose(fast, _nibabel(tmp_path / "scaled.nii.gz"))
    assert float(fast.min()) == -1024.0
    four_d = nib.Nifti1Image(np.zeros((8, 8, 6, 2), np.int16), np.eye(4))
    nib.save(four_d, tmp_path / "four_d.nii.gz")
    loaded = LoadVolumed(keys="image")({"image": str(tmp_path / "four_d.nii.gz")})["image"]
    assert tuple(loaded.shape) == (8, 8, 6, 2)


def test_damage_is_never_hidden_by_the_fast_path(tmp_path):
    """SimpleITK reads a truncated gzip and turns NaN into 0 without complaint: those files go to nibabel."""
    from liver3d.io.readers import VolumeError, read_volume

    floats = np.zeros((16, 16, 8), np.float32)
    floats[1, 1, 1] = np.nan
    nib.save(nib.Nifti1Image(floats, np.eye(4)), tmp_path / "nan.nii.gz")
    assert np.isnan(read_volume(tmp_path / "nan.nii.gz").array).sum() == 1
    assert torch.isnan(LoadVolumed(keys="image")({"image": str(tmp_path / "nan.nii.gz")})["image"]).sum() == 1
    ints = (np.random.default_rng(0).integers(-1000, 1000, (32, 32, 16))).astype(np.int16)
    nib.save(nib.Nifti1Image(ints, np.eye(4)), tmp_path / "ct.nii.gz")
    data = (tmp_path / "ct.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(VolumeError, match="cut.nii.gz: truncated"):
        read_volume(tmp_path / "cut.nii.gz")


def _two_cases(tmp_path):
    paths = []
    for i in range(2):
        case = generate_phantom(np.random.default_rng([7, i]), shape=(32, 28, 16))
        paths.append(tmp_path / f"case_{i}.nii.gz")
        nib.save(nib.Nifti1Image(case.image, case.affine_ras), paths[-1])
    return paths


def test_voxels_come_from_the_image_read_not_the_readers_last_read(tmp_path):
    """One reader serves every thread of a CacheDataset fill; MONAI keeps the last ``read``'s filenames on it.
    Reading case 0, then case 1 (another thread), then decoding case 0 must still give case 0's voxels."""
    from liver3d.io.fast_nifti import FastNiftiReader

    (a, b) = _two_cases(tmp_path)
    reader = FastNiftiReader()
    img_a = reader.read(str(a))
    reader.read(str(b))
    voxels, _ = reader.get_data(img_a)
    assert np.array_equal(voxels, np.asarray(nib.load(a).dataobj))


def test_one_loader_in_many_threads_gives_each_case_its_own_voxels(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    paths = _two_cases(tmp_path) * 8
    load = LoadVolumed(keys="image")
    with ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(lambda p: load({"image": str(p)})["image"], paths))
    for path, image in zip(paths, loaded):
        assert torch.equal(image, _nibabel(path))
