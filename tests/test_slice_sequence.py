"""Slice calls that see their neighbours (``slice_smoothing``): the liver/tumor split averaged along z, in the
function, in the evaluation report and in the CAM evaluator, and set from the slice bundle's configs."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bundle_utils import parse_bundle

from liver3d.cam import CamEvaluator
from liver3d.engines.classification import ClassificationReport
from liver3d.inference import smooth_by_volume, smooth_liver_tumor_calls

SLICE = Path(__file__).resolve().parents[1] / "bundles" / "liver_slice_cls" / "configs"

# background, liver, tumor: two blank slices, liver, one lone "tumor" call in a run of liver, then a lesion
# seen on three slices of which the middle one was called liver
PROBS = np.array(
    [
        [0.98, 0.01, 0.01],
        [0.90, 0.06, 0.04],
        [0.02, 0.80, 0.18],
        [0.02, 0.80, 0.18],
        [0.02, 0.35, 0.63],  # lone tumor call
        [0.02, 0.80, 0.18],
        [0.02, 0.80, 0.18],
        [0.02, 0.10, 0.88],
        [0.02, 0.55, 0.43],  # lesion slice called liver
        [0.02, 0.10, 0.88],
    ]
)


def test_radius_zero_changes_nothing_and_the_background_call_is_each_slices_own():
    np.testing.assert_array_equal(smooth_liver_tumor_calls(PROBS, 0), PROBS)
    out = smooth_liver_tumor_calls(PROBS, 1)
    np.testing.assert_allclose(out[:, 0], PROBS[:, 0])
    np.testing.assert_allclose(out.sum(1), PROBS.sum(1))
    assert list(PROBS.argmax(1)) == [0, 0, 1, 1, 2, 1, 1, 2, 1, 2]
    assert list(out.argmax(1)) == [0, 0, 1, 1, 1, 1, 1, 2, 2, 2]  # the lone call goes, the lesion closes


def test_slices_without_liver_have_no_vote_and_missing_slices_are_not_neighbours():
    blank_beside = np.array([[1.0, 0.0, 0.0], [0.0, 0.2, 0.8]])  # a blank slice's 0/0 split must not count
    np.testing.assert_allclose(smooth_liver_tumor_calls(blank_beside, 3)[1], blank_beside[1], atol=1e-6)
    pair = np.array([[0.0, 0.9, 0.1], [0.0, 0.1, 0.9]])
    apart = smooth_liver_tumor_calls(pair, 1, positions=[0, 5])  # five slices apart: each keeps its own
    np.testing.assert_allclose(apart, pair, atol=1e-9)
    together = smooth_liver_tumor_calls(pair, 1, positions=[5, 4])  # neighbours, in any row order
    np.testing.assert_allclose(together[:, 2], [0.5, 0.5], atol=1e-9)


def test_volumes_are_smoothed_apart_and_rows_keep_their_order():
    rng = np.random.default_rng(0)
    order = rng.permutation(20)
    volumes = np.array(["a"] * 10 + ["b"] * 10)[order]
    positions = np.r_[np.arange(10), np.arange(10)][order]
    probs = np.r_[PROBS, PROBS[::-1]][order]
    out = smooth_by_volume(probs, volumes, positions, 2)
    np.testing.assert_allclose(
        out[volumes == "a"][np.argsort(positions[volumes == "a"])], smooth_liver_tumor_calls(PROBS, 2)
    )
    np.testing.assert_allclose(
        out[volumes == "b"][np.argsort(positions[volumes == "b"])], smooth_liver_tumor_calls(PROBS[::-1], 2)
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: smooth_liver_tumor_calls(PROBS, -1), "radius"),
        (lambda: smooth_liver_tumor_calls(PROBS[:, :2], 1), "classes"),
        (lambda: smooth_by_volume(PROBS[:2], ["a", "a"], [3, 3], 1), "volume 'a'"),
        (lambda: smooth_by_volume(PROBS[:2], ["a"], [0, 1], 1), "one volume name"),
        (
            lambda: CamEvaluator(
                torch.nn.Conv3d(1, 3, 1), [], None, "x", [], "0", mode="volume", slice_smoothing=1
            ),
            "slices mode",
        ),
        (
            lambda: ClassificationReport(
                "x", ["background", "liver", "tumor"], id_keys=("case_id",), slice_smoothing=1
            ),
            "slice_index",
        ),
        (lambda: ClassificationReport("x", ["no", "yes"], slice_smoothing=1), "background, liver and tumor"),
    ],
)
def test_wrong_inputs_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


class _Engine:
    def __init__(self, output, batch):
        self.state = type("State", (), {"output": output, "batch": batch})()


def _report(tmp_path, radius):
    report = ClassificationReport(
        tmp_path / f"r{radius}", ["background", "liver", "tumor"], ("case_id", "patient_id", "slice_index"),
        n_bootstrap=20, slice_smoothing=radius,
    )  # fmt: skip
    report._reset(None)
    labels = [0, 0, 1, 1, 1, 1, 1, 2, 2, 2]
    for i in range(len(PROBS))[::-1]:  # slices arrive in any order
        item = {"pred": torch.tensor(PROBS[i]), "label": torch.tensor(labels[i])}
        report._iteration(_Engine([item], [{"case_id": "c", "patient_id": "p", "slice_index": i}]))
    report._completed(None)
    return json.loads((tmp_path / f"r{radius}" / "classification_report.json").read_text())


def test_the_report_scores_the_smoothed_calls_and_says_so(tmp_path):
    raw, smoothed = _report(tmp_path, 0), _report(tmp_path, 1)
    assert raw["slice_smoothing"] == 0 and smoothed["slice_smoothing"] == 1
    assert smoothed["balanced_accuracy"] == pytest.approx(1.0) and raw["balanced_accuracy"] < 0.9
    rows = (tmp_path / "r1" / "predictions.csv").read_text().splitlines()
    assert ",8,tumor,tumor," in next(r for r in rows if ",8," in r)


def test_the_cam_evaluator_gates_with_the_smoothed_probabilities(tmp_path):
    # a 1x1 conv, mean pooled: each slice's logits follow its mean intensity (three input channels: 2.5D)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[-4.0, -4, -4], [1, 1, 1], [2, 2, 2]])[..., None, None])
        net[0].bias.copy_(torch.tensor([0.5, 0.0, -1.0]))
    image = torch.rand(1, 8, 8, 10, generator=torch.Generator().manual_seed(0))
    made = {}
    for radius in (0, 2):
        evaluator = CamEvaluator(net, [], lambda d: d, tmp_path, [{"name": "tumor", "class_index": 2, "reference": [2]}],
                                 target_layer="0", context=3, slice_smoothing=radius)  # fmt: skip
        made[radius] = evaluator.slice_cams(image)
        assert evaluator.settings()["slice_smoothing"] == radius  # cam_summary.json says which
    cams0, probs0 = made[0]
    cams2, probs2 = made[2]
    np.testing.assert_allclose(probs2, smooth_liver_tumor_calls(probs0, 2), rtol=1e-5)
    assert not np.allclose(probs2, probs0)
    for z in range(10):  # the same map, gated by the smoothed tumor probability
        np.testing.assert_allclose(
            cams2[0, ..., z] * probs0[z, 2], cams0[0, ..., z] * probs2[z, 2], atol=1e-6
        )


def test_one_setting_of_the_bundle_reaches_the_report_the_cam_evaluator_and_inference(phantom_dir):
    data = {"dataset_dir": str(phantom_dir), "eval_dataset_dir": str(phantom_dir), "input": str(phantom_dir)}
    evaluate = parse_bundle(SLICE, ("train.json", "evaluate.json"), image_size=32, **data, slice_smoothing=2)
    report = next(
        h for h in evaluate.get_parsed_content("validate#handlers") if isinstance(h, ClassificationReport)
    )
    assert report.slice_smoothing == 2
    cam = parse_bundle(SLICE, ("train.json", "evaluate_cam.json"), image_size=32, **data, slice_smoothing=2)
    assert cam.get_parsed_content("cam_evaluator").slice_smoothing == 2
    default = parse_bundle(SLICE, ("train.json", "evaluate_cam.json"), image_size=32, **data)
    assert default.get_parsed_content("cam_evaluator").slice_smoothing == 0
    inference = parse_bundle(
        SLICE, ("train.json", "evaluate_cam.json", "inference.json"), image_size=32, **data, slice_smoothing=2
    )
    assert inference.get_parsed_content("cam_inference#settings")["slice_smoothing"] == 2
