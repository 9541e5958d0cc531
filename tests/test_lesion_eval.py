"""Lesion-wise evaluation: hand-made cases with known answers, and agreement with medpy where rules agree."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liver3d.evaluation.detection import froc_rows, summarize_lesions
from liver3d.evaluation.lesions import components, match_lesions, score_case_lesions, size_band

SPACING = (1.0, 1.0, 1.0)


def cube(mask: np.ndarray, lo, size) -> np.ndarray:
    mask[lo[0] : lo[0] + size, lo[1] : lo[1] + size, lo[2] : lo[2] + size] = True
    return mask


def empty(shape=(40, 40, 20)) -> np.ndarray:
    return np.zeros(shape, dtype=bool)


def test_perfect_match_is_one_tp_with_dice_one():
    ref = cube(empty(), (5, 5, 5), 6)
    case = match_lesions(ref.copy(), ref, SPACING, "a")
    assert case.counts("overlap") == (1, 0, 0) and case.counts("iou50") == (1, 0, 0)
    (lesion,) = case.references
    assert lesion.dice == 1.0 and lesion.iou == 1.0 and lesion.predicted_parts == 1
    assert lesion.diameter_mm == pytest.approx(6 * math.sqrt(2), rel=0.01)  # the square's diagonal


def test_missed_and_false_lesions():
    ref = cube(cube(empty(), (2, 2, 2), 4), (20, 20, 10), 5)
    pred = cube(cube(empty(), (2, 2, 2), 4), (30, 2, 2), 3)  # finds the first, misses the second, one false
    case = match_lesions(pred, ref, SPACING)
    assert case.counts("overlap") == (1, 1, 1)
    missed = [r for r in case.references if r.matched_voxels == 0]
    assert len(missed) == 1 and missed[0].dice == 0.0 and missed[0].volume_ml == pytest.approx(0.125)
    assert case.unmatched_predictions == 1 and case.unmatched_volumes_ml == [pytest.approx(0.027)]


def test_split_prediction_counts_once():
    """Two predicted pieces inside one reference lesion: one detection, no false positive."""
    ref = cube(empty(), (5, 5, 5), 10)
    pred = cube(cube(empty(), (5, 5, 5), 4), (11, 11, 11), 4)
    case = match_lesions(pred, ref, SPACING)
    assert case.counts("overlap") == (1, 0, 0)
    (lesion,) = case.references
    assert lesion.predicted_parts == 2 and lesion.overlap_voxels == 128
    assert lesion.iou == pytest.approx(128 / 1000)
    assert case.counts("iou50") == (0, 1, 1)  # too small a share of the lesion at IoU > 0.5


def test_merged_prediction_is_split_among_the_lesions_it_covers():
    """One predicted blob over two reference lesions: both detected, each gets its nearest half."""
    ref = cube(cube(empty(), (5, 5, 5), 5), (5, 15, 5), 5)
    pred = empty()
    pred[5:10, 5:20, 5:10] = True  # covers both and the gap between them
    case = match_lesions(pred, ref, SPACING)
    assert case.counts("overlap") == (2, 0, 0)
    assert all(r.shared_prediction for r in case.references)
    # The 5-voxel gap (y 10..14) is shared by nearest distance: y 10-11 to the first, 13-14 to the second,
    # y 12 (equidistant) to the first lesion in the order the distance maps are stacked.
    matched = sorted(r.matched_voxels for r in case.references)
    assert matched == [175, 200] and sum(matched) == int(pred.sum())
    assert all(r.iou > 0.5 for r in case.references)
    assert case.counts("iou50") == (2, 0, 0)


def test_no_lesions_anywhere():
    case = match_lesions(empty(), empty(), SPACING)
    assert case.counts("overlap") == (0, 0, 0) and case.references == []
    summary = summarize_lesions([case], n_resamples=50)
    assert math.isnan(summary["overlap"]["recall"]["value"])
    assert summary["overlap"]["fp_per_case"]["value"] == 0.0


def test_size_bands_and_anisotropic_spacing():
    assert (size_band(3), size_band(10), size_band(19.9), size_band(150)) == (
        "<10 mm",
        "10-20 mm",
        "10-20 mm",
        ">20 mm",
    )
    ref = cube(empty(), (5, 5, 5), 4)
    case = match_lesions(empty(), ref, (3.0, 3.0, 5.0))
    assert case.references[0].diameter_mm == pytest.approx(12 * math.sqrt(2), rel=0.01)
    assert case.references[0].size_band == "10-20 mm"


def test_components_are_numbered_largest_first():
    mask = cube(cube(empty(), (1, 1, 1), 2), (20, 20, 10), 5)
    labels, n = components(mask)
    assert n == 2 and (labels == 1).sum() == 125 and (labels == 2).sum() == 8


def test_summary_pools_counts_and_resamples_cases():
    ref1 = cube(empty(), (5, 5, 5), 6)
    good = match_lesions(ref1.copy(), ref1, SPACING, "good")
    false = match_lesions(cube(empty(), (20, 20, 10), 3), cube(empty(), (2, 30, 2), 4), SPACING, "bad")
    summary = summarize_lesions([good, false], n_resamples=500, seed=1)
    ov = summary["overlap"]
    assert ov["counts"] == {"tp": 1, "fp": 1, "fn": 1}
    assert ov["precision"]["value"] == 0.5 and ov["recall"]["value"] == 0.5 and ov["f1"]["value"] == 0.5
    assert ov["fp_per_case"]["value"] == 0.5
    assert ov["recall"]["ci95_low"] == 0.0 and ov["recall"]["ci95_high"] == 1.0  # two cases, opposite answers
    assert summary["per_lesion_dice"]["value"] == pytest.approx(0.5)
    assert ov["recall_by_size"]["<10 mm"]["lesions"] == 2


def test_burden_error_from_label_maps():
    ref = np.zeros((20, 20, 10), np.uint8)
    ref[2:12, 2:12, 2:7] = 1
    ref[3:5, 3:5, 3:5] = 2  # 8 of 500 voxels
    pred = ref.copy()
    pred[pred == 2] = 1  # tumor missed
    case = score_case_lesions(pred, ref, np.eye(4), "c")
    assert case.reference_burden == pytest.approx(8 / 500) and case.predicted_burden == 0.0
    summary = summarize_lesions([case], n_resamples=10)
    assert summary["burden_rmse"]["value"] == pytest.approx(8 / 500)
    assert summary["burden_max_abs_error"]["value"] == pytest.approx(8 / 500)


def test_lesion_geometry_follows_the_affine():
    """An LPS-stored label map gives the same lesions as its RAS copy."""
    ref = np.zeros((20, 20, 10), np.uint8)
    ref[2:10, 2:4, 2:3] = 2  # 8 x 2 pixels on one slice: diameter along x
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    ras = score_case_lesions(ref, ref, np.eye(4))
    lps = score_case_lesions(ref[::-1, ::-1], ref[::-1, ::-1], flip)
    assert (
        ras.references[0].diameter_mm
        == lps.references[0].diameter_mm
        == pytest.approx(math.hypot(8, 2), rel=0.05)
    )


def test_froc_rows_follow_thresholds():
    ref = cube(cube(empty(), (2, 2, 2), 4), (20, 20, 10), 4)
    prob = np.zeros(ref.shape, np.float32)
    prob[2:6, 2:6, 2:6] = 0.9  # a confident true lesion
    prob[20:24, 20:24, 10:14] = 0.3  # a faint true lesion
    prob[30:33, 30:33, 2:5] = 0.6  # a false one
    by_threshold = {t: [match_lesions(prob >= t, ref, SPACING)] for t in (0.2, 0.5, 0.8)}
    rows = froc_rows(by_threshold, n_resamples=20)
    assert [(r["recall"], r["fp_per_case"]) for r in rows] == [(1.0, 1.0), (0.5, 1.0), (0.5, 0.0)]


# -- against medpy's object-wise detection rates (medpy 0.5, test-only dependency) ----------------------------


def _random_case(rng):
    ref, pred = empty((48, 48, 24)), empty((48, 48, 24))
    for _ in range(rng.integers(1, 5)):
        lo = rng.integers(0, 40, 3)
        lo[2] = rng.integers(0, 18)
        cube(ref, lo, int(rng.integers(2, 6)))
    for _ in range(rng.integers(0, 5)):
        lo = rng.integers(0, 40, 3)
        lo[2] = rng.integers(0, 18)
        cube(pred, lo, int(rng.integers(2, 6)))
    return pred, ref


def test_agrees_with_medpy_when_no_prediction_covers_two_lesions():
    """medpy's ``obj_tpr`` counts one-to-one correspondences at overlap > 0 over the objects of one of its two
    arrays (it is directed): ``obj_tpr(ref, pred)`` is the lesion recall and ``obj_tpr(pred, ref)`` the lesion
    precision of the overlap criterion here, whenever no predicted component covers two reference lesions
    and no lesion is split (where LiTS's split/merge rules and medpy's greedy correspondence differ by design)."""
    binary = pytest.importorskip("medpy.metric.binary")
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(200):
        pred, ref = _random_case(rng)
        if not pred.any():
            continue
        case = match_lesions(pred, ref, SPACING)
        if any(r.shared_prediction or r.predicted_parts > 1 for r in case.references):
            continue
        tp, fp, fn = case.counts("overlap")
        assert binary.obj_tpr(ref, pred, connectivity=3) == pytest.approx(tp / (tp + fn))
        assert binary.obj_tpr(pred, ref, connectivity=3) == pytest.approx(tp / (tp + fp))
        compared += 1
    assert compared > 100


def test_f1_is_zero_not_undefined_when_nothing_matches():
    case = match_lesions(cube(empty(), (30, 30, 10), 3), cube(empty(), (2, 2, 2), 4), SPACING)
    summary = summarize_lesions([case], n_resamples=20)
    assert summary["overlap"]["f1"]["value"] == 0.0 and summary["overlap"]["precision"]["value"] == 0.0
