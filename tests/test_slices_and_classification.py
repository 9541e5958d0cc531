import numpy as np
import pytest
import torch

from liver3d.data import load_datalist
from liver3d.data.slices import SliceDataset
from liver3d.evaluation.classification import classification_report
from liver3d.transforms import ct_preprocessing, stack_slices


@pytest.fixture(scope="module")
def slices(phantom_datalist):
    entries = load_datalist(phantom_datalist)
    return entries, SliceDataset(entries, ct_preprocessing(pixdim=None, window="liver"), context=3)


def test_slice_dataset_items_carry_class_case_and_index(slices):
    entries, dataset = slices
    item = dataset[0]
    assert item["image"].shape == (3, 64, 64) and item["mask"].shape == (1, 64, 64)
    assert int(item["label"]) in (0, 1, 2) and item["case_id"] and item["patient_id"]
    assert len(dataset) == 4 * 32  # every slice of four 64x64x32 phantoms
    assert set(dataset.labels.tolist()) == {0, 1, 2}
    for it in dataset.items[:64]:
        values = set(torch.unique(it["mask"]).tolist())
        assert int(it["label"]) == (2 if 2 in values else 1 if 1 in values else 0)


def test_slice_predictions_restack_into_the_volume(slices):
    _, dataset = slices
    case = dataset.items[0]["case_id"]
    items = [it for it in dataset.items if it["case_id"] == case]
    volume = stack_slices([it["mask"][0] for it in items], [it["slice_index"] for it in items], depth=32)
    assert volume.shape == (64, 64, 32)
    assert int((volume > 0).sum()) == sum(int((it["mask"] > 0).sum()) for it in items)


def test_background_subsampling_and_class_weights(phantom_datalist):
    entries = load_datalist(phantom_datalist)[:2]
    full = SliceDataset(entries, ct_preprocessing(pixdim=None, window="liver"))
    thin = SliceDataset(entries, ct_preprocessing(pixdim=None, window="liver"), background_fraction=0.25)
    per_case = {}
    for it in full.items:
        per_case[it["case_id"]] = per_case.get(it["case_id"], 0) + int(int(it["label"]) == 0)
    assert thin.class_counts()[0] == sum(round(0.25 * n) for n in per_case.values())
    assert (thin.class_counts()[1:] == full.class_counts()[1:]).all()
    weights = full.class_weights()
    counts = full.class_counts()
    present = counts > 0
    assert torch.isclose(weights[present].mean(), torch.tensor(1.0))
    assert weights[counts.argmin()] >= weights[counts.argmax()]


def test_classification_report_on_a_known_case():
    y_true = [0, 0, 0, 1, 1, 2]
    probs = np.eye(3)[[0, 0, 1, 1, 1, 2]]  # one background slice called liver
    report = classification_report(y_true, probs, ["background", "liver", "tumor"], n_bootstrap=50)
    assert report["accuracy"] == pytest.approx(5 / 6)
    assert report["balanced_accuracy"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert report["per_class"]["liver"]["precision"] == pytest.approx(2 / 3)
    assert report["per_class"]["tumor"]["auc"] == pytest.approx(1.0)
    lo, hi = report["accuracy_ci95"]
    assert lo <= report["accuracy"] <= hi
