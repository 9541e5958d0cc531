import numpy as np
import pytest
import torch
from ignite.engine import Engine, Events
from monai.data import MetaTensor

from liver3d.engines.handlers import WallClockBudget
from liver3d.phantoms import Tissue
from liver3d.transforms.augment import (
    RandTissueHUShift,
    RandTissueHUShiftd,
    RandWindowHU,
    RandWindowHUd,
    tissue_values,
)
from liver3d.transforms.intensity import WindowHU

FAT, LIVER, BONE = int(Tissue.FAT), int(Tissue.LIVER), int(Tissue.BONE_CORTEX)


def _blocks() -> tuple[torch.Tensor, torch.Tensor]:
    """A (1, 12, 12, 12) HU image and a tissue map of three slabs along x: fat, liver, bone."""
    tissue = torch.full((1, 12, 12, 12), float(FAT))
    tissue[:, 4:8] = LIVER
    tissue[:, 8:] = BONE
    gen = torch.Generator().manual_seed(0)
    image = torch.randn((1, 12, 12, 12), generator=gen) * 10 + 50
    return image, tissue


def _offsets(out: torch.Tensor, image: torch.Tensor, tissue: torch.Tensor, value: int) -> torch.Tensor:
    return torch.unique((out - image)[tissue == value])


# -- RandTissueHUShift --------------------------------------------------------------------------------


def test_tissue_shift_is_one_offset_per_tissue_within_the_limits():
    image, tissue = _blocks()
    t = RandTissueHUShift(max_shift_hu=30.0, per_tissue_max_hu={LIVER: 2.0}, smooth_vox=0.0, prob=1.0)
    t.set_random_state(3)
    out = t(image, tissue)
    assert out.shape == image.shape
    fat, liver = _offsets(out, image, tissue, FAT), _offsets(out, image, tissue, LIVER)
    assert torch.allclose(fat, fat[0], atol=1e-4) and torch.allclose(liver, liver[0], atol=1e-4)
    assert 0 < abs(float(fat[0])) <= 30.0
    assert 0 < abs(float(liver[0])) <= 2.0  # the per-tissue override
    assert not torch.isclose(fat[0], liver[0])


def test_ignored_tissues_are_left_unchanged():
    image, tissue = _blocks()
    t = RandTissueHUShift(max_shift_hu=40.0, ignore=(BONE,), smooth_vox=0.0, prob=1.0)
    t.set_random_state(1)
    out = t(image, tissue)
    bone = tissue == BONE
    assert torch.equal(out[bone], image[bone])
    assert not torch.allclose(out[~bone], image[~bone])


def test_smoothing_blends_only_the_tissue_borders():
    image, tissue = _blocks()
    sharp = RandTissueHUShift(max_shift_hu=40.0, ignore=(BONE,), smooth_vox=0.0, prob=1.0)
    smooth = RandTissueHUShift(max_shift_hu=40.0, ignore=(BONE,), smooth_vox=0.7, prob=1.0)
    sharp.set_random_state(5)
    smooth.set_random_state(5)
    a, b = sharp(image, tissue), smooth(image, tissue)
    interior = torch.zeros_like(tissue, dtype=torch.bool)
    interior[:, [0, 1, 5, 6, 10, 11]] = True  # two voxels from every tissue border
    assert torch.allclose(a[interior], b[interior], atol=1e-4)
    border = (b - image)[:, 3:5].mean(dim=(0, 2, 3))  # the fat | liver border, x = 3 and 4
    fat_offset, liver_offset = float((a - image)[0, 0, 0, 0]), float((a - image)[0, 5, 0, 0])
    lo, hi = sorted((fat_offset, liver_offset))
    assert all(lo - 1e-4 <= float(v) <= hi + 1e-4 for v in border)
    assert not torch.allclose(a[:, 3:5], b[:, 3:5])


def test_tissue_shift_with_prob_zero_leaves_the_image_unchanged():
    image, tissue = _blocks()
    t = RandTissueHUShift(max_shift_hu=40.0, prob=0.0)
    t.set_random_state(0)
    assert torch.equal(t(image, tissue), image)


def test_tissue_shift_is_deterministic_with_set_random_state():
    image, tissue = _blocks()
    outs = []
    for seed in (7, 7, 8):
        t = RandTissueHUShiftd(keys="image", max_shift_hu=30.0, prob=1.0)
        t.set_random_state(seed)
        outs.append(t({"image": image, "tissue": tissue})["image"])
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(outs[0], outs[2])


def test_dict_tissue_shift_uses_the_tissue_key_and_passes_cases_without_one():
    image, tissue = _blocks()
    t = RandTissueHUShiftd(keys="image", tissue_key="tissues", max_shift_hu=30.0, smooth_vox=0.0, prob=1.0)
    t.set_random_state(2)
    real_ct = {"image": image, "label": torch.zeros_like(image)}
    out = t(real_ct)
    assert out["image"] is image and set(out) == {"image", "label"}
    shifted = t({"image": image, "tissues": tissue})
    assert torch.equal(shifted["tissues"], tissue)  # the tissue map itself is not shifted
    assert len(_offsets(shifted["image"], image, tissue, LIVER)) >= 1
    assert not torch.allclose(shifted["image"], image)


def test_tissue_shift_keeps_meta_tensor_metadata():
    image, tissue = _blocks()
    affine = torch.diag(torch.tensor([2.0, 2.0, 3.0, 1.0], dtype=torch.float64))
    data = {"image": MetaTensor(image, affine=affine), "tissue": MetaTensor(tissue, affine=affine)}
    t = RandTissueHUShiftd(keys="image", max_shift_hu=30.0, prob=1.0)
    t.set_random_state(0)
    out = t(data)["image"]
    assert isinstance(out, MetaTensor) and torch.equal(out.affine, affine)
    assert out.dtype == torch.float32 and not torch.allclose(out.as_tensor(), image)


def test_tissue_values_names_the_phantom_tissues():
    assert tissue_values(["BONE_CORTEX", "AIR"]) == [BONE, 0]
    with pytest.raises(KeyError):
        tissue_values(["NOT_A_TISSUE"])


# -- RandWindowHU -------------------------------------------------------------------------------------


def test_window_with_prob_zero_equals_the_liver_window():
    hu = torch.linspace(-1100, 400, 301).reshape(1, 301, 1, 1)
    t = RandWindowHU("liver", jitter_hu=50.0, prob=0.0)
    t.set_random_state(0)
    expected = torch.as_tensor(np.asarray(WindowHU("liver")(hu)), dtype=torch.float32)
    assert torch.allclose(t(hu).float(), expected, atol=1e-6)


def test_jittered_window_stays_in_unit_range_and_changes_the_mapping():
    hu = torch.linspace(-1100, 400, 301).reshape(1, 301, 1, 1)
    nominal = RandWindowHU("liver", prob=0.0)(hu)
    changed = 0
    for seed in range(5):
        t = RandWindowHU("liver", jitter_hu=300.0, prob=1.0)  # large jitter: upper kept >= lower + 50
        t.set_random_state(seed)
        out = t(hu)
        assert torch.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
        assert torch.all(out[0, 1:] >= out[0, :-1])  # still monotonic in HU
        changed += not torch.allclose(out, nominal)
    assert changed == 5


def test_dict_window_is_deterministic_with_set_random_state():
    hu = torch.linspace(-300, 300, 61).reshape(1, 61, 1, 1)
    outs = []
    for seed in (4, 4):
        t = RandWindowHUd(keys="image", window=(-100, 200), jitter_hu=40.0, prob=1.0)
        t.set_random_state(seed)
        outs.append(t({"image": hu})["image"])
    assert torch.equal(outs[0], outs[1])


# -- WallClockBudget ----------------------------------------------------------------------------------


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(minutes: float, seconds_per_iteration: float, max_epochs: int = 10):
    clock = _FakeClock()

    def step(engine, batch):
        clock.now += seconds_per_iteration

    trainer = Engine(step)
    budget = WallClockBudget(minutes)
    budget._clock = clock
    budget.attach(trainer)
    saved = []
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: saved.append(e.state.epoch))
    trainer.run(range(3), max_epochs=max_epochs)
    return trainer, saved


def test_budget_stops_after_the_epoch_that_exceeds_it():
    # 3 iterations of 10 s: 30 s per epoch; a 1.25 min (75 s) budget runs out during epoch 3.
    trainer, saved = _run(1.25, 10.0)
    assert trainer.state.epoch == 3
    assert saved == [1, 2, 3]  # a checkpoint handler after the budget still saves the last epoch


def test_budget_reached_exactly_at_an_epoch_end_stops_there():
    trainer, _ = _run(1.0, 10.0)  # 60 s budget, 60 s after epoch 2
    assert trainer.state.epoch == 2


def test_zero_or_negative_budget_never_stops():
    for minutes in (0.0, -5.0):
        trainer, saved = _run(minutes, 3600.0, max_epochs=4)
        assert trainer.state.epoch == 4 and saved == [1, 2, 3, 4]
