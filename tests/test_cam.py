import numpy as np
import pytest
import torch
from torch import nn

from liver3d.cam import (
    cam_to_mask,
    compute_cam,
    compute_cams,
    format_cam_table,
    iou,
    normalize_cam,
    sweep_thresholds,
)
from liver3d.networks import resnet


def test_pseudo_mask_pipeline_on_a_hand_made_case_with_known_iou():
    # A CAM that is 1 on a 10x10 square and 0.6 on a 10x5 strip beside it, 0 elsewhere; reference = the square.
    cam = np.zeros((40, 40), np.float32)
    cam[10:20, 10:20] = 1.0
    cam[10:20, 20:25] = 0.6
    reference = np.zeros((40, 40), bool)
    reference[10:20, 10:20] = True
    assert iou(cam_to_mask(cam, 0.8, 0, 0), reference) == 1.0
    assert iou(cam_to_mask(cam, 0.5, 0, 0), reference) == pytest.approx(100 / 150)
    sweep = sweep_thresholds(cam, reference, opening_radius=1, closing_radius=1)
    # Opening with a radius-1 disk trims the square's 4 corner pixels: IoU 96/100 above 0.6, and 0.5 keeps the strip.
    assert sweep.best_iou == pytest.approx(0.96) and 0.6 < sweep.best_threshold <= 0.99
    # At 0.5 the 10x15 rectangle loses its 4 corners: intersection 98 (2 square corners), union 148.
    assert sweep.ious[0] == pytest.approx(98 / 148)


def test_opening_removes_specks_in_3d():
    cam = np.zeros((20, 20, 20), np.float32)
    cam[5:15, 5:15, 5:15] = 1.0
    cam[0, 0, 0] = 1.0  # a single-voxel speck
    mask = cam_to_mask(cam, 0.5, opening_radius=1, closing_radius=0)
    assert not mask[0, 0, 0] and mask[10, 10, 10]


def test_normalize_handles_constant_maps():
    assert normalize_cam(np.full((3, 3), 7.0)).max() == 0.0
    out = normalize_cam(np.array([2.0, 4.0, 6.0]))
    assert out.tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam"])
def test_cam_shapes_and_range_in_2d_and_3d(method):
    torch.manual_seed(0)
    net2d = resnet(18, spatial_dims=2, in_channels=1, num_classes=3)
    cams = compute_cams(
        net2d, torch.randn(2, 1, 64, 48), ["layer3", "layer4"], class_index=[0, 2], method=method
    )
    assert set(cams) == {"layer3", "layer4"}
    assert cams["layer4"].shape == (2, 64, 48)
    assert cams["layer4"].min() >= 0 and cams["layer4"].max() <= 1
    net3d = resnet(18, spatial_dims=3, in_channels=1, num_classes=2)
    cam3d = compute_cam(net3d, torch.randn(1, 1, 32, 32, 24), "layer4", 1, method=method)
    assert cam3d.shape == (1, 32, 32, 24) and cam3d.max() <= 1 and cam3d.min() >= 0


@pytest.mark.parametrize("dims", [2, 3])
def test_layercam_weights_each_location_by_its_own_positive_gradient(dims):
    """Known answer: conv(1 -> 2, weights +1 / -1) -> ReLU -> mean -> sum. At the conv layer the gradient is
    1/N where each channel is positive, so LayerCAM is |x| (min-max normalised); Grad-CAM's spatial mean of the
    gradients would weight x and -x by the share of positive and negative voxels instead."""
    conv = (nn.Conv2d if dims == 2 else nn.Conv3d)(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight[:] = torch.tensor([1.0, -1.0]).view(2, 1, *[1] * dims)
    pool = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool3d(1)
    head = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        head.weight[:] = 1.0
    net = nn.Sequential(conv, nn.ReLU(), pool, nn.Flatten(), head)
    x = torch.randn(1, 1, *([12, 10] if dims == 2 else [8, 6, 4]), generator=torch.Generator().manual_seed(0))
    cam = compute_cam(net, x, "0", 0, method="layercam")[0]
    assert np.allclose(cam, normalize_cam(x[0, 0].abs().numpy()), atol=1e-4)
    assert not np.allclose(compute_cam(net, x, "0", 0, method="gradcam")[0], cam, atol=1e-2)


def test_unknown_layer_is_named():
    with pytest.raises(KeyError, match="no layer named 'layer9'"):
        compute_cam(
            resnet(18, spatial_dims=2, in_channels=1, num_classes=2), torch.randn(1, 1, 32, 32), "layer9", 0
        )


def test_cam_scores_pick_one_threshold_for_the_data_set():
    """Two cases whose CAM is a ramp: the common threshold maximises the mean IoU, not each case's IoU."""
    from liver3d.cam import CamScores

    thresholds = (0.5, 0.7, 0.9)
    scores = CamScores(thresholds)
    ramp = np.tile(np.linspace(0, 1, 10)[:, None, None], (1, 6, 4))  # value x/9 along axis 0
    for case, first in (("a", 5), ("b", 8)):  # reference: rows >= first
        reference = np.zeros(ramp.shape, bool)
        reference[first:] = True
        scores.score_case(case, "tumor", ramp, reference, opening_radius=0, closing_radius=0)
    scores.score_case("empty", "tumor", ramp, np.zeros(ramp.shape, bool))  # no tumor: not scored
    # pseudo-masks: t=0.5 -> rows 5..9, t=0.7 -> rows 7..9, t=0.9 -> row 9
    a = np.array([1.0, 3 / 5, 1 / 5])
    b = np.array([2 / 5, 2 / 3, 1 / 2])  # case b alone would pick 0.7
    k = int(np.argmax((a + b) / 2))
    summary = {(r["structure"], r["protocol"]): r for r in scores.summary(n_bootstrap=10)}
    volume = summary[("tumor", "volume")]
    assert volume["n"] == 2 and volume["threshold"] == thresholds[k]
    assert volume["iou"] == pytest.approx((a[k] + b[k]) / 2)
    assert k == 0 and volume["oracle_iou"] == pytest.approx((1.0 + 2 / 3) / 2)
    # one slice record per axial slice holding the reference (axis 2: all 4 slices, both cases)
    slices = summary[("tumor", "slice")]
    assert slices["n"] == 8 and slices["n_cases"] == 2
    # its CI resamples the two cases with all their slices, not the eight slices one by one
    records = [r for r in scores.records["slice"] if r.structure == "tumor"]
    ious = [float(r.ious[scores.common_threshold("slice", "tumor")]) for r in records]
    from liver3d.evaluation.metrics import bootstrap_ci

    assert slices["iou_ci95"] == list(bootstrap_ci(ious, 10, groups=[r.case_id for r in records]))
    assert "| tumor | slice | 8 (2) |" in format_cam_table(scores.summary(n_bootstrap=10))
    assert [c for c, _ in scores.ranked_cases("tumor")] == ["a", "b"]
