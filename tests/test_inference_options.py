"""Inference options of the segmentation cascade: mirroring TTA, stage blending, edge padding, small-lesion
removal, filling the liver's enclosed holes (chosen on validation by scripts/select_inference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from script_utils import load_script
from stand_ins import Bright, TumorEverywhere

from liver3d.inference import CascadeInferer, MirroredPredictor
from liver3d.inference.cascade import blend_foreground
from liver3d.inference.mirroring import mirror_subsets
from liver3d.transforms import (
    ChannelArgmaxd,
    FillLiverHoles,
    FillLiverHolesd,
    RemoveSmallLesions,
    RemoveSmallLesionsd,
)


class _LeftEdge(torch.nn.Module):
    """Not mirror-symmetric: a logit ramp along x, times the input."""

    def forward(self, x):
        ramp = torch.arange(x.shape[2], dtype=torch.float32).view(1, 1, -1, 1, 1)
        return torch.cat([x * ramp, -x * ramp], dim=1)


def test_mirror_subsets_cover_every_flip_once():
    assert mirror_subsets([0, 1, 2]) == [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]
    assert mirror_subsets([]) == [()]
    with pytest.raises(ValueError, match="spatial axes"):
        mirror_subsets([3])


def test_mirrored_predictor_averages_the_flipped_outputs():
    net = _LeftEdge()
    x = torch.rand(1, 1, 6, 5, 4)
    out = MirroredPredictor(net, axes=[0])(x)
    expected = (net(x) + torch.flip(net(torch.flip(x, [2])), [2])) / 2
    assert torch.allclose(out, expected)
    # An equivariant network gives its own output back.
    identity = torch.nn.Conv3d(1, 2, 1, bias=False)
    assert torch.allclose(MirroredPredictor(identity, axes=[0, 1, 2])(x), identity(x), atol=1e-6)
    assert torch.equal(MirroredPredictor(net, axes=[])(x), net(x))


def _block():
    x = torch.zeros(1, 1, 32, 32, 16)
    x[:, :, 8:20, 10:22, 4:12] = 1.0
    return x


def test_stage1_weight_blends_inside_the_box_only():
    x = _block()
    plain = CascadeInferer(Bright(), roi_size=(16, 16, 8), margin_mm=2.0, overlap=0.0)
    blended = CascadeInferer(Bright(), roi_size=(16, 16, 8), margin_mm=2.0, overlap=0.0, stage1_weight=0.5)
    ((coarse, box, fine),) = plain.stages(x, TumorEverywhere())
    p0, p5 = plain(x, TumorEverywhere())[0], blended(x, TumorEverywhere())[0]
    inside = (slice(None), *box)
    assert torch.allclose(p0[inside], fine)
    assert torch.allclose(p5[inside], 0.5 * coarse[inside] + 0.5 * fine)
    outside = torch.ones(x.shape[2:], dtype=torch.bool)
    outside[box] = False
    assert (p5[0][outside] == 1).all() and (p0[0][outside] == 1).all()
    with pytest.raises(ValueError, match="stage1_weight"):
        CascadeInferer(Bright(), stage1_weight=1.5)


def test_foreground_blend_moves_the_outline_and_keeps_stage_2s_tumor_share():
    # Two voxels: stage 2 sees liver 0.3 / tumor 0.3 in the first and nothing in the second; stage 1 sees
    # liver 0.9 in both and no tumor.
    fine = torch.tensor([[0.4, 1.0], [0.3, 0.0], [0.3, 0.0]])
    coarse = torch.tensor([[0.1, 0.1], [0.9, 0.9], [0.0, 0.0]])
    out = blend_foreground(coarse, fine, 0.5)
    assert torch.allclose(out.sum(0), torch.ones(2))
    assert torch.allclose(out[0], torch.tensor([0.25, 0.55]))  # background: the mean of the two stages
    assert torch.allclose(out[1, 0], out[2, 0])  # stage 2's half-and-half split survives the blend
    # No stage-2 foreground: stage 1's own split (all liver), never a coin toss between liver and tumor.
    assert torch.allclose(out[1:, 1], torch.tensor([0.45, 0.0]))
    assert torch.allclose(blend_foreground(fine, fine, 0.5)[:, 1], torch.tensor([1.0, 0.0, 0.0]))
    # Softmax maps where stage 2 is all but sure of background: still a distribution at every weight.
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4096, generator=gen) * 4
    logits[0] += torch.linspace(0, 30, 4096)
    for weight in (0.25, 0.75, 1.0):
        blended = blend_foreground(torch.randn(3, 4096, generator=gen).softmax(0), logits.softmax(0), weight)
        assert float((blended.sum(0) - 1).abs().max()) < 1e-6 and float(blended.min()) >= 0
    # The class blend, by contrast, dilutes stage 2's tumor with stage 1's none.
    assert float(out[2, 0]) > float(0.5 * coarse[2, 0] + 0.5 * fine[2, 0])
    # Through the inferer: only the box changes, and weight 0 is stage 2 alone.
    x = _block()
    inferer = CascadeInferer(
        Bright(),
        roi_size=(16, 16, 8),
        margin_mm=2.0,
        overlap=0.0,
        stage1_weight=0.5,
        stage1_blend="foreground",
    )
    ((c, box, f),) = inferer.stages(x, TumorEverywhere())
    inside = (slice(None), *box)
    assert torch.allclose(inferer(x, TumorEverywhere())[0][inside], blend_foreground(c[inside], f, 0.5))
    assert torch.allclose(CascadeInferer.blend(c, box, f, 0.0, "foreground")[inside], f)
    with pytest.raises(ValueError, match="stage1_blend"):
        CascadeInferer(Bright(), stage1_blend="tumor")


def test_padding_mode_reaches_the_sliding_window():
    x = _block()[:, :, :, :, :6]  # thinner than the window: it is padded along z
    constant = CascadeInferer(Bright(), roi_size=(16, 16, 8), margin_mm=2.0, overlap=0.0)
    replicate = CascadeInferer(
        Bright(), roi_size=(16, 16, 8), margin_mm=2.0, overlap=0.0, padding_mode="replicate"
    )
    assert replicate.sw["padding_mode"] == "replicate"
    # A network that sees the padding: the mean of the window, broadcast.
    seen = []

    class _Record(Bright):
        def forward(self, x):
            seen.append(float(x.mean()))
            return super().forward(x)

    constant.stage1, replicate.stage1 = _Record(), _Record()
    constant.stage1_probabilities(x)
    replicate.stage1_probabilities(x)
    assert seen[0] != seen[1]


def _labels(shape=(20, 20, 10), spacing=2.0):
    labels = np.zeros((1, *shape), np.uint8)
    labels[0, 2:18, 2:18, 1:9] = 1
    labels[0, 4:9, 4:9, 2:7] = 2  # 125 voxels x 8 mm^3 = 1.0 mL
    labels[0, 14, 14, 5] = 2  # one voxel: 0.008 mL
    return MetaTensor(torch.as_tensor(labels), affine=torch.diag(torch.tensor([spacing] * 3 + [1.0])))


def test_remove_small_lesions_turns_small_tumors_into_liver():
    labels = _labels()
    out = RemoveSmallLesions(min_volume_ml=0.5)(labels)
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, labels.affine)
    assert int(out[0, 14, 14, 5]) == 1
    assert int((out == 2).sum()) == 125
    assert int((out == 0).sum()) == int((labels == 0).sum())
    # The voxel volume comes from the affine: at 1 mm the big lesion is 0.125 mL and goes too.
    assert int((RemoveSmallLesions(0.5)(_labels(spacing=1.0)) == 2).sum()) == 0
    # 0 keeps everything; the dictionary version does the same as the array one.
    assert torch.equal(RemoveSmallLesions(0.0)(labels), labels)
    assert torch.equal(RemoveSmallLesionsd("pred", 0.5)({"pred": labels})["pred"], out)
    with pytest.raises(ValueError, match="min_volume_ml"):
        RemoveSmallLesions(-1)


def _inference_parser(overrides: dict):
    """The segmentation bundle's ``inference.json``, parsed with ``overrides`` (release weights' root)."""
    from pathlib import Path

    from monai.bundle import ConfigParser

    root = Path(__file__).resolve().parents[1] / "bundles" / "liver_tumor_seg"
    parser = ConfigParser()
    parser.read_config(str(root / "configs" / "inference.json"))
    parser.update({"bundle_root": str(root), **overrides})
    parser.parse()
    return parser


def test_inference_json_wires_the_options():
    parser = _inference_parser(
        {
            "mirror_axes": [0, 1],
            "stage1_weight": 0.25,
            "stage1_blend": "foreground",
            "padding_mode": "replicate",
            "min_lesion_ml": 0.3,
            "fill_liver_holes": True,
            "background_weight": 0.8,
            "tumor_weight": 1.5,
        }
    )
    inferer = parser.get_parsed_content("inferer")
    assert inferer.mirror_axes == (0, 1) and inferer.stage1_weight == 0.25
    assert inferer.stage1_blend == "foreground"
    assert inferer.sw["padding_mode"] == "replicate"
    post = parser.get_parsed_content("postprocessing")
    removers = [t for t in post.transforms if isinstance(t, RemoveSmallLesionsd)]
    assert len(removers) == 1 and removers[0].remove.min_volume_ml == 0.3
    argmaxes = [t for t in post.transforms if isinstance(t, ChannelArgmaxd)]
    # One ChannelArgmaxd runs: the other is disabled while probabilities are not saved.
    assert [t.argmax.weights for t in argmaxes] == [[0.8, 1.0, 1.5]]
    fillers = [i for i, t in enumerate(post.transforms) if isinstance(t, FillLiverHolesd)]
    assert fillers == [post.transforms.index(removers[0]) - 1]  # on the final label map, before the removal


def test_inference_json_fills_holes_by_default_and_can_leave_them():
    for override, expected in (({}, True), ({"fill_liver_holes": False}, False)):
        parser = _inference_parser(override)
        post = parser.get_parsed_content("postprocessing")
        assert any(isinstance(t, FillLiverHolesd) for t in post.transforms) is expected
        assert parser.get_parsed_content("manifest_settings")["fill_liver_holes"] is expected


def test_fill_liver_holes_fills_enclosed_background_only():
    labels = torch.zeros(1, 12, 12, 12, dtype=torch.uint8)
    labels[0, 2:10, 2:10, 2:10] = 1
    labels[0, 4:6, 4:6, 4:6] = 0  # a pocket the liver closes on every side: a miss
    labels[0, 6:8, 6:8, 6:8] = 2  # a lesion inside the liver
    labels[0, 3, 3, 3] = 0  # a one-voxel pocket beside it
    labels[0, 0:9, 8, 5] = 0  # a groove that reaches the border: open, stays background
    image = MetaTensor(labels.clone(), affine=torch.diag(torch.tensor([2.0, 2.0, 3.0, 1.0])))
    out = FillLiverHoles()(image)
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, image.affine)
    assert (out[0, 4:6, 4:6, 4:6] == 1).all() and out[0, 3, 3, 3] == 1
    assert (out[0, 6:8, 6:8, 6:8] == 2).all()  # MONAI's per-label FillHoles would paint liver here
    assert (out[0, 0:9, 8, 5] == 0).all()
    changed = out.as_tensor() != labels
    assert int(changed.sum()) == 9 and bool((labels[changed] == 0).all())
    assert torch.equal(FillLiverHolesd("pred")({"pred": image})["pred"], out)
    solid = torch.zeros(1, 6, 6, 6, dtype=torch.uint8)
    solid[0, 1:5, 1:5, 1:5] = 1
    assert FillLiverHoles()(solid) is solid  # nothing to fill: the input back


def test_selection_rule_picks_by_mean_dice_then_lesion_size_by_f1():
    sel = load_script("select_inference")
    assert sel.blend_options([0.0, 0.25], ["foreground"]) == [(0.0, "classes"), (0.25, "foreground")]

    def row(liver, tumor, f1):
        return {"liver_dice": liver, "tumor_dice": tumor, "mean_dice": (liver + tumor) / 2, "lesion_f1": f1}

    def key(weight, background, fill, min_ml, tumor=1.0):
        blend = "classes" if weight == 0 else "foreground"
        return sel.Option("none", "constant", weight, blend, background, tumor, fill, min_ml)

    table = {
        key(0.0, 1.0, "off", 0.0): row(0.86, 0.20, 0.30),
        key(0.0, 1.0, "off", 1.0): row(0.86, 0.20, 0.34),
        key(0.25, 1.0, "off", 0.0): row(0.87, 0.21, 0.29),
        key(0.25, 1.0, "off", 1.0): row(0.87, 0.208, 0.33),  # within the tumor slack
        key(0.25, 1.0, "off", 2.0): row(0.87, 0.19, 0.40),  # best F1, but tumor drops
    }
    choice = sel.choose(table)
    assert (choice["stage1_weight"], choice["stage1_blend"], choice["min_lesion_ml"]) == (
        0.25,
        "foreground",
        1.0,
    )
    assert choice["fill_liver_holes"] is False and choice["background_weight"] == 1.0
    assert choice["defaults"] == table[key(0.0, 1.0, "off", 0.0)]

    # Filling is compared after the first four: a tie goes to filling, a loss keeps it off; the lesion size
    # is then chosen with the fill fixed.
    tie = {
        **table,
        key(0.25, 1.0, "on", 0.0): row(0.87, 0.21, 0.20),
        key(0.25, 1.0, "on", 1.0): row(0.87, 0.21, 0.25),
    }
    choice = sel.choose(tie)
    assert (choice["stage1_weight"], choice["fill_liver_holes"], choice["min_lesion_ml"]) == (0.25, True, 1.0)
    assert (
        sel.choose({**table, key(0.25, 1.0, "on", 0.0): row(0.869, 0.21, 0.50)})["fill_liver_holes"] is False
    )
    # Neither filling nor the background weight changes which of the first four wins.
    better = {
        **table,
        key(0.0, 1.0, "on", 0.0): row(0.95, 0.25, 0.50),
        key(0.0, 0.6, "off", 0.0): row(0.96, 0.3, 0.5),
    }
    assert sel.choose(better)["stage1_weight"] == 0.25

    # The background weight comes before the fill: the best mean wins, a tie goes to the weight nearest 1.
    weighted = {
        **table,
        key(0.25, 0.8, "off", 0.0): row(0.875, 0.21, 0.30),
        key(0.25, 0.6, "off", 0.0): row(0.875, 0.21, 0.31),
        key(0.25, 0.8, "off", 1.0): row(0.875, 0.21, 0.36),
        key(0.25, 0.8, "on", 0.0): row(0.875, 0.21, 0.30),
    }
    choice = sel.choose(weighted)
    assert (choice["background_weight"], choice["fill_liver_holes"], choice["min_lesion_ml"]) == (
        0.8,
        True,
        0.0,
    )
    no_gain = {**table, key(0.25, 0.8, "off", 0.0): row(0.87, 0.21, 0.60)}
    assert sel.choose(no_gain)["background_weight"] == 1.0

    # The tumor weight comes after the background weight, on top of it; a tie goes to the weight nearest 1.
    tumor = {
        **weighted,
        key(0.25, 0.8, "off", 0.0, tumor=1.5): row(0.875, 0.23, 0.30),
        key(0.25, 0.8, "off", 0.0, tumor=2.0): row(0.875, 0.23, 0.40),
        key(0.25, 1.0, "off", 0.0, tumor=2.0): row(0.99, 0.50, 0.40),  # not on the chosen background weight
    }
    choice = sel.choose(tumor)
    assert (choice["background_weight"], choice["tumor_weight"], choice["fill_liver_holes"]) == (
        0.8,
        1.5,
        False,
    )


def test_background_weight_grows_the_liver_outline_and_never_a_lesion():
    from liver3d.transforms import ChannelArgmax, ChannelArgmaxd

    # Five voxels: (background, liver, tumor) probabilities.
    probabilities = torch.tensor(
        [[0.55, 0.7, 0.9, 0.5, 0.2], [0.45, 0.3, 0.05, 0.1, 0.3], [0.0, 0.0, 0.05, 0.4, 0.5]]
    ).view(3, 5, 1, 1)

    def labels(weights):
        return ChannelArgmax(weights)(probabilities).flatten().tolist()

    assert labels(None) == labels([1, 1, 1]) == [0, 0, 0, 0, 2]
    assert labels([0.8, 1, 1]) == [1, 0, 0, 0, 2]  # 0.44 < 0.45
    # The fourth voxel is won by tumor (0.4 > 0.6 x 0.5) only thanks to the weight: it becomes liver.
    assert labels([0.6, 1, 1]) == [1, 0, 0, 1, 2]
    assert labels([0.4, 1, 1]) == [1, 1, 0, 1, 2]
    dict_version = ChannelArgmaxd("pred", weights=[0.4, 1, 1])({"pred": probabilities})["pred"]
    assert dict_version.flatten().tolist() == [1, 1, 0, 1, 2]
    assert torch.equal(probabilities[0, :, 0, 0], torch.tensor([0.55, 0.7, 0.9, 0.5, 0.2]))  # input unchanged
    with pytest.raises(ValueError, match="must be > 0"):
        ChannelArgmax([0, 1, 1])
    with pytest.raises(ValueError, match="2 channel weights for 3 channels"):
        ChannelArgmax([0.8, 1])(probabilities)


def test_tumor_weight_lets_tumor_win_against_liver_and_the_unweighted_background():
    from liver3d.transforms import ChannelArgmax

    # (background, liver, tumor): tumor wins at weight 1.5 in the first (0.45 > 0.4, 0.3), never against the
    # unweighted background in the second (1.5 x 0.3 = 0.45 < 0.5); with the background weight 0.8 as well,
    # the second and third leave the background (0.45 > 0.4; 0.45 > 0.4) but not beyond the unweighted
    # background, so they grow the liver, not the tumor.
    probabilities = torch.tensor([[0.3, 0.5, 0.5], [0.4, 0.2, 0.45], [0.3, 0.3, 0.05]]).view(3, 3, 1, 1)
    assert ChannelArgmax()(probabilities).flatten().tolist() == [1, 0, 0]
    assert ChannelArgmax([1, 1, 1.5])(probabilities).flatten().tolist() == [2, 0, 0]
    assert ChannelArgmax([0.8, 1, 1.5])(probabilities).flatten().tolist() == [2, 1, 1]


def test_fill_liver_holes_in_the_box_equals_the_whole_volume_fill():
    from scipy.ndimage import binary_fill_holes

    rng = np.random.default_rng(0)
    for trial in range(20):
        labels = (rng.random((20, 18, 16)) < 0.55).astype(np.uint8)
        labels[labels > 0] = rng.integers(1, 3, size=int(labels.sum()))
        if trial % 2:  # foreground off the border on some sides, on it on others
            labels[:, :, :3] = 0
            labels[:4] = 0
        foreground = labels > 0
        expected = labels.copy()
        expected[binary_fill_holes(foreground) & ~foreground] = 1
        assert np.array_equal(np.asarray(FillLiverHoles()(torch.as_tensor(labels[None])))[0], expected)


def test_selection_reports_false_tumor_of_tumor_free_cases():
    sel = load_script("select_inference")
    affine = np.diag([2.0, 2.0, 2.5, 1.0])  # 10 mm^3 voxels
    ref = np.zeros((8, 8, 8), dtype=np.uint8)
    ref[1:7, 1:7, 1:7] = 1
    labels = ref.copy()
    labels[2:4, 2:4, 2:4] = 2  # 8 voxels called tumor in a liver without any
    healthy = sel.case_scores(labels, ref, affine, "healthy")
    assert healthy["tumor_dice"] is None and healthy["false_tumor_ml"] == pytest.approx(0.08)
    ref_with_tumor = ref.copy()
    ref_with_tumor[2:4, 2:4, 2:4] = 2
    sick = sel.case_scores(labels, ref_with_tumor, affine, "sick")
    assert sick["tumor_dice"] == pytest.approx(1.0) and sick["false_tumor_ml"] is None
    summary = sel.summarize([healthy, sick])
    assert summary["false_tumor_ml_tumor_free"] == pytest.approx(0.08)
    assert summary["tumor_dice"] == pytest.approx(1.0)  # the rule's tumor Dice leaves the healthy case out
