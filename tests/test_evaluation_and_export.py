import math

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from scipy import ndimage
from stand_ins import Bright, TumorEverywhere

from liver3d.evaluation.metrics import bootstrap_ci, score_case, score_structure, summarize
from liver3d.evaluation.report import write_evaluation
from liver3d.export import read_slicer_segments, write_slicer_segmentation
from liver3d.inference import CascadeInferer, liver_box
from liver3d.io.nifti import save_nifti
from liver3d.labels import load_label_table


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask)


def _reference_surface_distances(a: np.ndarray, b: np.ndarray, spacing) -> tuple[float, float]:
    """Independent HD95 and symmetric ASD: Euclidean distance transforms of the other surface, in mm."""
    sa, sb = _surface(a), _surface(b)
    da = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa]
    db = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb]
    hd95 = max(np.percentile(da, 95), np.percentile(db, 95))
    asd = (da.sum() + db.sum()) / (len(da) + len(db))
    return float(hd95), float(asd)


def _ellipsoid(shape, center, radii):
    grid = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii)) <= 1


def test_metrics_match_an_independent_implementation_on_anisotropic_volumes():
    spacing = (0.7, 0.7, 3.0)
    ref = _ellipsoid((60, 60, 20), (30, 30, 10), (18, 15, 6))
    pred = _ellipsoid((60, 60, 20), (33, 29, 10), (16, 16, 5))
    s = score_structure(pred.astype(np.uint8), ref.astype(np.uint8), [1], spacing)
    inter = (pred & ref).sum()
    assert s.dice == pytest.approx(2 * inter / (pred.sum() + ref.sum()), abs=1e-5)
    assert s.iou == pytest.approx(inter / (pred | ref).sum(), abs=1e-5)
    hd95, asd = _reference_surface_distances(pred, ref, spacing)
    assert s.hd95_mm == pytest.approx(hd95, rel=0.05, abs=0.35)
    assert s.asd_mm == pytest.approx(asd, rel=0.05, abs=0.1)
    assert s.volume_difference_ml == pytest.approx((pred.sum() - ref.sum()) * np.prod(spacing) / 1000)


def test_empty_structures_are_explicit():
    empty = np.zeros((10, 10, 5), np.uint8)
    both = score_structure(empty, empty, [2], (1, 1, 1))
    assert both.dice == 1.0 and both.iou == 1.0 and both.hd95_mm == 0.0
    full = empty.copy()
    full[2:5, 2:5, 1:3] = 2
    missed = score_structure(empty, full, [2], (1, 1, 1))
    assert missed.dice == 0.0 and math.isnan(missed.hd95_mm)
    false_alarm = score_structure(full, empty, [2], (1, 1, 1))
    assert false_alarm.dice == 0.0 and math.isnan(false_alarm.asd_mm)


def test_liver_includes_tumor_and_global_dice_pools_voxels(tmp_path):
    ref = np.zeros((12, 12, 6), np.uint8)
    ref[2:10, 2:10, 1:5] = 1
    ref[4:6, 4:6, 2:4] = 2
    pred = ref.copy()
    pred[4:6, 4:6, 2:4] = 1  # tumor called liver
    scores = score_case(pred, ref, (1, 1, 1), "a") + score_case(ref, ref, (1, 1, 1), "b")
    liver = [s for s in scores if s.structure == "liver"]
    assert all(s.dice == 1.0 for s in liver)
    summary = {r["structure"]: r for r in summarize(scores)}
    assert summary["tumor"]["dice_mean"] == pytest.approx(0.5)
    assert summary["tumor"]["global_dice"] == pytest.approx(2 * 8 / (16 + 8))
    paths = write_evaluation(scores, tmp_path)
    assert "| tumor | 2 |" in paths["summary_md"].read_text(encoding="utf-8")
    assert len(paths["per_case"].read_text(encoding="utf-8").strip().splitlines()) == 5


def test_bootstrap_ci_brackets_the_mean():
    values = list(np.random.default_rng(0).normal(0.8, 0.05, 40))
    lo, hi = bootstrap_ci(values)
    assert lo < np.mean(values) < hi and hi - lo < 0.05


def test_slicer_segmentation_has_named_coloured_segments_and_the_label_geometry(tmp_path):
    label = np.zeros((20, 16, 8), np.uint8)
    label[5:12, 4:10, 2:6] = 1
    label[7:9, 6:8, 3:5] = 2
    affine = np.array([[-0.8, 0, 0, 120.0], [0, 0.8, 0, -90.0], [0, 0, 2.5, -300.0], [0, 0, 0, 1]])
    nifti = save_nifti(label, affine, tmp_path / "seg.nii.gz")
    seg = write_slicer_segmentation(label, affine, tmp_path / "case.seg.nrrd")
    data, segments = read_slicer_segments(seg)
    table = load_label_table()
    assert set(segments) == {"liver", "tumor"}
    for name, info in segments.items():
        assert info["value"] == table.value(name)
        assert info["color"] == pytest.approx(table.by_name(name).color_float, abs=1e-5)
    assert np.array_equal(data, label)
    header = seg.read_bytes()[:3000].decode("latin-1")
    assert "Segmentation_MasterRepresentation:=Binary labelmap" in header
    assert "Segment1_Extent:=7 8 6 7 3 4" in header
    # ITK reads both files to the same physical grid.
    a, b = sitk.ReadImage(str(nifti)), sitk.ReadImage(str(seg))
    assert np.allclose(a.GetOrigin(), b.GetOrigin()) and np.allclose(a.GetSpacing(), b.GetSpacing())
    assert np.allclose(a.GetDirection(), b.GetDirection())


def test_cascade_puts_stage2_only_inside_the_stage1_liver_box():
    x = torch.zeros(1, 1, 40, 40, 20)
    x[:, :, 10:20, 12:22, 4:12] = 1.0
    inferer = CascadeInferer(Bright(), roi_size=(16, 16, 8), coarse_factor=2, margin_mm=2.0, overlap=0.0)
    labels = inferer(x, TumorEverywhere()).argmax(1)[0]
    tumor = np.argwhere(labels.numpy() == 2)
    assert tumor.size
    # The box is the (blurred by up/down-sampling) bright block plus the 2-voxel margin, nothing beyond.
    assert tumor.min(0).tolist() >= [10 - 3, 12 - 3, 4 - 3]
    assert tumor.max(0).tolist() <= [19 + 3, 21 + 3, 11 + 3]
    assert (labels[:6] == 0).all() and (labels[24:] == 0).all()


def test_liver_box_is_none_without_liver():
    assert liver_box(torch.zeros(4, 4, 4, dtype=torch.bool), [1, 1, 1]) is None


def test_one_bounding_box_for_arrays_and_tensors_widened_and_clipped():
    from liver3d.geometry import mask_bounding_box

    mask = np.zeros((6, 7, 8), dtype=bool)
    mask[1, 3:5, 6] = True
    expected = (slice(0, 4), slice(1, 7), slice(4, 8))  # 2 voxels wider, clipped at 0 and at the shape
    assert (
        mask_bounding_box(mask, [2, 2, 2]) == expected == mask_bounding_box(torch.as_tensor(mask), [2, 2, 2])
    )
    assert mask_bounding_box(mask) == (slice(1, 2), slice(3, 5), slice(6, 7))
    assert mask_bounding_box(np.zeros((3, 3, 3), dtype=bool)) is None
