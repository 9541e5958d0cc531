"""Bootstrap CIs that resample patients (liver3d.evaluation.resampling) and the reports that use them."""

import numpy as np
import pytest

from liver3d.evaluation.binary import auc_with_ci
from liver3d.evaluation.classification import classification_report, format_classification_table
from liver3d.evaluation.metrics import bootstrap_ci
from liver3d.evaluation.resampling import group_members, resample_indices


def _four_patients(slices: int = 50):
    """Four patients whose slices are right 60, 70, 90 and 100 % of the time (a hard scan, an easy one)."""
    y_true, y_pred, patients = [], [], []
    for p, right in enumerate((0.6, 0.7, 0.9, 1.0)):
        hits = int(round(right * slices))
        y_true += [1] * slices
        y_pred += [1] * hits + [0] * (slices - hits)
        patients += [f"P{p}"] * slices
    return np.array(y_true), np.array(y_pred), patients


def test_a_patient_resample_draws_whole_patients():
    groups = ["a", "a", "a", "b", "c", "c"]
    members = {g: set(idx.tolist()) for g, idx in group_members(groups).items()}
    assert members == {"a": {0, 1, 2}, "b": {3}, "c": {4, 5}}
    for idx in resample_indices(6, groups, n_resamples=50, seed=1):
        drawn = [groups[i] for i in idx]
        counts = {g: drawn.count(g) for g in set(drawn)}
        for g, n in counts.items():  # a patient drawn k times brings all of its samples k times
            assert n % len(members[g]) == 0
        assert sum(n // len(members[g]) for g, n in counts.items()) == 3  # as many patients as the set has
    with pytest.raises(ValueError, match="3 labels for 6 samples"):
        next(resample_indices(6, ["a", "b", "c"]))


def test_one_patient_per_sample_is_the_plain_bootstrap():
    values = np.random.default_rng(0).random(30).tolist()
    assert bootstrap_ci(values, 500, seed=3) == bootstrap_ci(values, 500, seed=3, groups=list(range(30)))


def test_resampling_patients_widens_the_interval_of_correlated_slices():
    y_true, y_pred, patients = _four_patients()
    probs = np.eye(2)[y_pred]
    by_slice = classification_report(y_true, probs, ["no", "yes"], n_bootstrap=400)
    by_patient = classification_report(y_true, probs, ["no", "yes"], n_bootstrap=400, groups=patients)
    assert by_slice["accuracy"] == by_patient["accuracy"] == pytest.approx(0.8)
    width = lambda r: r["accuracy_ci95"][1] - r["accuracy_ci95"][0]  # noqa: E731
    # 200 slices as if independent: about +-0.055; four patients of 0.6-1.0: about +-0.15
    assert width(by_patient) > 2 * width(by_slice)
    assert by_patient["accuracy_ci95"][0] >= 0.6 and by_patient["accuracy_ci95"][1] <= 1.0
    assert by_patient["ci95_resampled"] == {"unit": "patients", "n": 4}
    assert by_slice["ci95_resampled"] == {"unit": "samples", "n": 200}
    assert "4 patients resampled" in format_classification_table(by_patient)
    # the per-case means: a NaN case is dropped with its patient label
    lo, hi = bootstrap_ci([0.6, 0.7, float("nan"), 1.0], groups=["a", "b", "c", "d"])
    assert 0.6 <= lo <= hi <= 1.0


def test_auc_interval_resamples_patients_and_skips_one_class_draws():
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    score = y + rng.normal(0, 0.8, y.size)
    patients = [f"P{i // 10}" for i in range(y.size)]  # four patients of ten samples, both classes in each
    report = auc_with_ci(y, score, 300, groups=patients)
    assert report["ci95_resampled"] == {"unit": "patients", "n": 4}
    assert report["auc_ci95"][0] <= report["auc"] <= report["auc_ci95"][1]
    one_class = auc_with_ci([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 100, groups=["a", "a", "b", "b"])
    assert one_class["auc"] == 1.0 and one_class["auc_ci95"] == [1.0, 1.0]  # draws of one patient skipped
