"""``liver3d.geometry.Volume``: voxels with their RAS affine, as ``read_volume`` returns them."""

import nibabel as nib
import numpy as np
import pytest

from liver3d.geometry import Volume
from liver3d.io.readers import read_volume

LPS_LIKE = np.array(  # stored L->R reversed and P->A reversed (as a DICOM series), 0.8 x 0.7 x 2.5 mm
    [[-0.8, 0, 0, 100.0], [0, -0.7, 0, 50.0], [0, 0, 2.5, -30.0], [0, 0, 0, 1]]
)


def test_spacing_axcodes_and_ras_reordering():
    array = np.arange(4 * 3 * 2).reshape(4, 3, 2).astype(np.float32)
    volume = Volume(array, LPS_LIKE, "ct.nii.gz")
    assert volume.shape == (4, 3, 2) and volume.axcodes == "LPS"
    assert volume.spacing == pytest.approx((0.8, 0.7, 2.5))
    ras = volume.to_ras()
    assert ras.axcodes == "RAS" and ras.source == "ct.nii.gz"
    assert np.array_equal(ras.array, array[::-1, ::-1, :])
    # each voxel keeps its world position: index -> mm is the same before and after
    for index in [(0, 0, 0), (3, 2, 1), (1, 2, 0)]:
        ras_index = (3 - index[0], 2 - index[1], index[2])
        world = LPS_LIKE @ np.array([*index, 1.0])
        assert np.allclose(ras.affine @ np.array([*ras_index, 1.0]), world)
    assert volume.same_grid(ras) and ras.same_grid(volume)
    assert not volume.same_grid(Volume(array, np.diag([0.8, 0.7, 2.5, 1.0])))


def test_with_array_keeps_the_grid_and_refuses_another_shape():
    volume = Volume(np.zeros((4, 3, 2)), LPS_LIKE, "ct.nii.gz")
    mask = volume.with_array(np.ones((4, 3, 2), np.uint8))
    assert mask.source == "ct.nii.gz" and np.array_equal(mask.affine, volume.affine)
    assert volume.with_array(np.zeros((4, 3, 2, 3))).shape == (4, 3, 2, 3)  # channels last on the same grid
    with pytest.raises(ValueError, match="ct.nii.gz.*do not fit"):
        volume.with_array(np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match="4x4"):
        Volume(np.zeros((2, 2, 2)), np.eye(3))


def test_read_volume_gives_the_files_voxels_affine_and_name(tmp_path):
    data = (np.arange(5 * 4 * 3) % 7).reshape(5, 4, 3).astype(np.int16)
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(data, LPS_LIKE), path)
    volume = read_volume(path)
    assert np.array_equal(volume.array, data)
    assert np.allclose(volume.affine, LPS_LIKE) and volume.source == str(path)


def test_in_storage_order_of_flips_to_the_references_order_or_says_none():
    array = np.arange(4 * 3 * 2).reshape(4, 3, 2).astype(np.float32)
    volume = Volume(array, LPS_LIKE)
    ras = volume.to_ras()
    assert np.array_equal(ras.in_storage_order_of(volume), array)
    assert volume.in_storage_order_of(volume) is array
    assert volume.in_storage_order_of(Volume(array, np.diag([0.8, 0.7, 2.5, 1.0]))) is None
