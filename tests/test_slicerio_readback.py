"""The .seg.nrrd files liver3d writes, read back with slicerio (3D Slicer's own segmentation reader library)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

slicerio = pytest.importorskip("slicerio")

from liver3d.export import write_slicer_segmentation  # noqa: E402
from liver3d.labels import load_label_table  # noqa: E402

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    "affine",
    [
        np.diag([0.8, 0.8, 2.5, 1.0]),
        np.array([[-0.7, 0, 0, 120.0], [0, -0.7, 0, 80.0], [0, 0, 3.0, -400.0], [0, 0, 0, 1]]),  # LPS-stored
        np.array([[0, 0.9, 0, 10.0], [0.9, 0, 0, -20.0], [0, 0, 1.5, 5.0], [0, 0, 0, 1]]),  # axes swapped
    ],
)
def test_names_colours_values_and_geometry(tmp_path, affine):
    labels = np.zeros((24, 20, 10), np.uint8)
    labels[2:12, 3:15, 1:8] = 1
    labels[4:7, 5:9, 2:5] = 2
    path = write_slicer_segmentation(labels, affine, tmp_path / "case.seg.nrrd")
    seg = slicerio.read_segmentation(str(path))
    table = load_label_table()
    segments = {s["name"]: s for s in seg["segments"]}
    assert set(segments) == {lab.name for lab in table.foreground}
    for lab in table.foreground:
        assert segments[lab.name]["labelValue"] == lab.value
        assert np.allclose(segments[lab.name]["color"], lab.color_float, atol=1e-4)
    assert np.allclose(seg["ijkToLPS"], RAS_TO_LPS @ affine, atol=1e-5)
    assert list(seg["referenceImageExtentOffset"]) == [0, 0, 0]
    assert np.array_equal(seg["voxels"], labels)


def test_segment_output_reads_back_on_the_input_grid(tmp_path):
    """What ``liver3d segment`` publishes: the Slicer file matches the NIfTI label map voxel for voxel."""
    from liver3d.io.nifti import save_nifti
    from liver3d.phantoms import generate_phantom
    from liver3d.segment import main

    case = generate_phantom(np.random.default_rng(5), shape=(40, 40, 16), n_tumors=1)
    ct = save_nifti(case.image.astype(np.int16), case.affine_ras, tmp_path / "ct.nii.gz")
    assert main([str(ct), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    label = nib.load(str(tmp_path / "out" / "ct_seg.nii.gz"))
    seg = slicerio.read_segmentation(str(tmp_path / "out" / "ct.seg.nrrd"))
    assert np.allclose(seg["ijkToLPS"], RAS_TO_LPS @ label.affine, atol=1e-4)
    assert np.array_equal(seg["voxels"], np.asarray(label.dataobj))
    record = json.loads((tmp_path / "out" / "ct_result.json").read_text())
    assert "slicer_segmentation" in record["outputs"]
