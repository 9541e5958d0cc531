"""RandSyntheticLesiond: a lesion planted in a liver slice's liver, the slice relabelled tumor; nothing else."""

from pathlib import Path

import numpy as np
import pytest
import torch
from bundle_utils import parse_bundle

from liver3d.transforms import RandSyntheticLesiond

SLICE_CONFIGS = Path(__file__).resolve().parents[1] / "bundles" / "liver_slice_cls" / "configs"


def _liver_slice(label: int = 1, context: int = 3) -> dict:
    """A 64 x 64 stack: liver (0.5 in the window, with noise) in a disc of radius 24, background 0 elsewhere."""
    yy, xx = np.mgrid[0:64, 0:64]
    liver = (yy - 32) ** 2 + (xx - 32) ** 2 < 24**2
    rng = np.random.default_rng(0)
    image = np.where(liver, 0.5 + 0.02 * rng.standard_normal((context, 64, 64)), 0.0)
    mask = np.where(liver, 1, 0)[None]
    return {
        "image": torch.as_tensor(image, dtype=torch.float32),
        "mask": torch.as_tensor(mask, dtype=torch.int64),
        "label": torch.tensor(label),
    }


def test_a_planted_lesion_is_darker_liver_inside_the_liver_and_the_slice_becomes_tumor():
    sample = _liver_slice()
    t = RandSyntheticLesiond(prob=1.0, hyperdense_fraction=0.0, rim_fraction=0.0, hypodense_hu=(-60, -40))
    t.set_random_state(3)
    out = t(dict(sample))
    assert int(out["label"]) == 2
    lesion = out["mask"][0].numpy() == 2
    liver_before = sample["mask"][0].numpy() == 1
    assert lesion.sum() >= 3 and not (lesion & ~liver_before).any()  # tumor pixels only where liver was
    change = (out["image"] - sample["image"]).numpy()
    assert np.all(change[:, ~liver_before] == 0)  # nothing outside the liver moves
    centre_change = change[1][lesion]
    # -40..-60 HU in the 300 HU liver window is -0.13..-0.20 at the lesion's middle
    assert centre_change.min() < -0.12 and centre_change.max() <= 0
    assert out["image"].min() >= 0 and out["image"].max() <= 1


def test_only_liver_slices_get_lesions_and_prob_zero_changes_nothing():
    for label in (0, 2):
        sample = _liver_slice(label=label)
        out = RandSyntheticLesiond(prob=1.0)(dict(sample))
        assert int(out["label"]) == label and torch.equal(out["image"], sample["image"])
    sample = _liver_slice()
    out = RandSyntheticLesiond(prob=0.0)(dict(sample))
    assert int(out["label"]) == 1 and torch.equal(out["image"], sample["image"])


def test_a_slice_with_too_little_liver_for_the_smallest_lesion_passes_unchanged():
    sample = _liver_slice()
    thin = torch.zeros_like(sample["mask"])
    thin[0, 30:32, 10:50] = 1  # a 2-pixel strip: no room for a 2.5 px lesion
    sample["mask"] = thin
    out = RandSyntheticLesiond(prob=1.0)(dict(sample))
    assert int(out["label"]) == 1 and torch.equal(out["image"], sample["image"])


def test_a_small_liver_gets_a_lesion_that_fits_it():
    sample = _liver_slice()
    yy, xx = np.mgrid[0:64, 0:64]
    small = torch.as_tensor(((yy - 20) ** 2 + (xx - 40) ** 2 < 4.5**2)[None].astype(np.int64))
    sample["mask"] = small
    for seed in range(20):  # most draws are larger than this liver allows and are shrunk to fit it
        t = RandSyntheticLesiond(prob=1.0)
        t.set_random_state(seed)
        out = t(dict(sample))
        assert int(out["label"]) == 2
        assert not ((out["mask"][0] == 2) & (small[0] == 0)).any()


def test_the_same_random_state_plants_the_same_lesion_and_another_state_another():
    def plant(seed):
        t = RandSyntheticLesiond(prob=1.0)
        t.set_random_state(seed)
        return t(_liver_slice())["image"]

    assert torch.equal(plant(7), plant(7))
    assert not torch.equal(plant(7), plant(8))


def test_neighbouring_channels_show_a_smaller_cut_of_the_lesion_or_none():
    sample = _liver_slice()
    t = RandSyntheticLesiond(prob=1.0, hyperdense_fraction=0.0, rim_fraction=0.0, depth_slices=(1.5, 1.6))
    t.set_random_state(0)
    change = (t(dict(sample))["image"] - sample["image"]).abs().sum(dim=(1, 2)).numpy()
    assert change[1] > change[0] > 0 and change[1] > change[2] > 0


def test_the_fractions_must_leave_room_for_hypodense_lesions():
    with pytest.raises(ValueError, match="hyperdense_fraction"):
        RandSyntheticLesiond(hyperdense_fraction=0.7, rim_fraction=0.5)


@pytest.mark.parametrize("prob", [0.0, 0.3])
def test_train_config_plants_lesions_only_when_synthetic_lesion_prob_is_set(prob):
    parser = parse_bundle(SLICE_CONFIGS, ("train.json",), synthetic_lesion_prob=prob)
    transforms = parser.get_parsed_content("train#slice_transforms").transforms
    planted = [t for t in transforms if isinstance(t, RandSyntheticLesiond)]
    assert len(planted) == (1 if prob > 0 else 0)
    if planted:
        assert transforms[0] is planted[0] and planted[0].prob == prob
        assert planted[0].units_per_hu == pytest.approx(1 / 300)  # the config's liver window


def test_class_weights_follow_the_relabelled_slices_and_are_unchanged_without_lesions():
    """Weights from the counts the network is trained on: with a third of the liver slices relabelled,
    tumor is no longer the rare class; without synthetic lesions the weights are those of the labels."""
    from liver3d.data import inverse_frequency_weights, weights_from_counts
    from liver3d.transforms import relabelled_counts

    labels = [0] * 50 + [1] * 300 + [2] * 100
    assert torch.equal(
        weights_from_counts(relabelled_counts([50, 300, 100], 0.0)), inverse_frequency_weights(labels, 3)
    )
    counts = relabelled_counts([50, 300, 100], 1 / 3)
    assert counts.tolist() == pytest.approx([50, 200, 200])
    weights = weights_from_counts(counts)
    assert weights[1] == pytest.approx(weights[2]) and weights[0] > weights[1]


def test_train_config_weights_classes_by_the_relabelled_counts(phantom_dir):
    weights = {}
    for prob in (0.0, 0.5):
        parser = parse_bundle(
            SLICE_CONFIGS,
            ("train.json",),
            dataset_dir=str(phantom_dir),
            image_size=32,
            synthetic_lesion_prob=prob,
        )
        counts = parser.get_parsed_content("train#dataset").class_counts(3)
        weights[prob] = parser.get_parsed_content("class_weights")
    from liver3d.data import weights_from_counts
    from liver3d.transforms import relabelled_counts

    assert torch.allclose(weights[0.5], weights_from_counts(relabelled_counts(counts, 0.5)))
    assert weights[0.5][2] / weights[0.5][1] < weights[0.0][2] / weights[0.0][1]  # tumor less favoured
