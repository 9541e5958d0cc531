import json

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

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
    rarest = int(np.where(present, counts, counts.max() + 1).argmin())  # absent classes get weight 0
    assert weights[rarest] >= weights[counts.argmax()]


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


def test_confusion_metric_matches_sklearn_and_skips_absent_classes():
    from liver3d.engines import ConfusionMetric, classification_metrics

    rng = np.random.default_rng(0)
    y_true = rng.choice([0, 2], size=40)  # class 1 never occurs
    scores = rng.normal(size=(40, 3))
    scores[np.arange(40), y_true] += 1.0
    halves = [
        (list(torch.tensor(scores[:25])), list(torch.tensor(y_true[:25]))),
        (torch.tensor(scores[25:]), torch.tensor(y_true[25:])),
    ]
    balanced = ConfusionMetric(3)
    metrics = classification_metrics(["a", "b", "c"])
    for metric in [balanced, *metrics.values()]:
        metric.reset()
        for pred, label in halves:  # lists of decollated items and batched tensors alike
            metric.update((pred, label))
    y_pred = scores.argmax(1)
    assert balanced.compute() == pytest.approx(skm.balanced_accuracy_score(y_true, y_pred))
    assert metrics["val_accuracy"].compute() == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert metrics["val_recall_c"].compute() == pytest.approx(np.mean(y_pred[y_true == 2] == 2))
    assert np.isnan(metrics["val_recall_b"].compute())


def test_tumor_presence_of_volumes(phantom_dir):
    from liver3d.data import inverse_frequency_weights, volume_classes
    from liver3d.transforms import TumorPresenced

    entries = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"]
    entries = [{**e, "label": str(phantom_dir / e["label"])} for e in entries]
    classes = volume_classes(entries)
    assert classes == [int(e["has_tumor"]) for e in entries]
    label = torch.zeros(1, 8, 8, 8)
    label[0, 2:4, 2:4, 2:4] = 2
    assert int(TumorPresenced(min_voxels=8)({"label": label})["label"]) == 1
    assert int(TumorPresenced(min_voxels=9)({"label": label})["label"]) == 0
    weights = inverse_frequency_weights([0, 1, 1, 1], 2)
    assert weights[0] / weights[1] == pytest.approx(3.0)


def test_empty_validation_split_stops_with_a_message():
    from liver3d.data import require_nonempty
    from liver3d.errors import InputError

    with pytest.raises(InputError, match="no cases in val"):
        require_nonempty({"train": [1, 2], "val": [], "test": []})
