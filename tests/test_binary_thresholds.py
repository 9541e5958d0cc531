"""Binary operating points against a hand-computed ROC, and report numbers against scikit-learn."""

import numpy as np
import pytest
from sklearn import metrics as skm

from liver3d.evaluation.binary import (
    auc_with_ci,
    format_threshold_table,
    metrics_at,
    threshold_report,
    youden_threshold,
)
from liver3d.evaluation.classification import classification_report

Y = [0, 0, 1, 1, 0, 1]
S = [0.1, 0.4, 0.35, 0.8, 0.2, 0.7]


def test_youden_threshold_matches_hand_computed_roc():
    # Thresholds high to low with (TPR, FPR): 0.8 (1/3, 0), 0.7 (2/3, 0), 0.4 (2/3, 1/3),
    # 0.35 (1, 1/3), 0.2 (1, 2/3), 0.1 (1, 1). J = TPR - FPR peaks at 2/3 at 0.7 and at 0.35;
    # the tie goes to the higher threshold.
    best = youden_threshold(Y, S)
    assert best["threshold"] == pytest.approx(0.7)
    assert best["youden_j"] == pytest.approx(2 / 3)
    assert best["sensitivity"] == pytest.approx(2 / 3)
    assert best["specificity"] == pytest.approx(1.0)


def test_metrics_at_a_threshold_by_hand():
    # score >= 0.5 calls cases 4 and 6: TP 2, FP 0, FN 1, TN 3.
    m = metrics_at(Y, S, 0.5)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 0, 1, 3)
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["precision"] == pytest.approx(1.0)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(1.0)
    assert m["npv"] == pytest.approx(3 / 4)
    # at 0.35 the third positive is caught, at the price of one false positive (score 0.4)
    m = metrics_at(Y, S, 0.35)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 1, 0, 2)


def test_threshold_chosen_on_validation_is_applied_to_test():
    chosen = youden_threshold(Y, S)  # 0.7 on this "validation" set
    test_y, test_s = [0, 1, 1, 0], [0.6, 0.65, 0.9, 0.1]
    report = threshold_report(test_y, test_s, chosen, n_bootstrap=50)
    assert report["threshold_source"] == "validation"
    assert report["optimal"]["threshold"] == pytest.approx(0.7)
    assert report["optimal"]["sensitivity"] == pytest.approx(0.5)  # only 0.9 reaches 0.7
    assert report["default"]["specificity"] == pytest.approx(0.5)  # 0.6 is a false positive at 0.5
    own = threshold_report(test_y, test_s, None, n_bootstrap=50)
    assert own["threshold_source"] == "this set"
    assert own["optimal"]["threshold"] == pytest.approx(0.65)
    table = format_threshold_table(report, "pneumonia")
    for name in ("accuracy", "precision", "sensitivity", "specificity", "0.700"):
        assert name in table


def test_binary_numbers_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    score = np.clip(0.3 * y + rng.normal(0.35, 0.25, 200), 0, 1)
    report = threshold_report(y, score, None, n_bootstrap=200)
    assert report["auc"] == pytest.approx(skm.roc_auc_score(y, score))
    lo, hi = report["auc_ci95"]
    assert lo < report["auc"] < hi
    for key in ("default", "optimal"):
        point = report[key]
        pred = (score >= point["threshold"]).astype(int)
        assert point["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert point["precision"] == pytest.approx(skm.precision_score(y, pred))
        assert point["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
        assert point["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
        assert point["f1"] == pytest.approx(skm.f1_score(y, pred))
    fpr, tpr, thresholds = skm.roc_curve(y, score)
    assert report["optimum_this_set"]["youden_j"] == pytest.approx(np.max(tpr - fpr))


def test_multiclass_report_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 150)
    probs = rng.dirichlet(np.ones(4), 150)
    probs[np.arange(150), y] += 0.4 * rng.random(150)
    probs /= probs.sum(1, keepdims=True)
    names = ["benign", "malignant", "cirrhosis", "normal"]
    report = classification_report(y, probs, names, n_bootstrap=20)
    expected = skm.classification_report(y, probs.argmax(1), target_names=names, output_dict=True)
    for name in names:
        for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert report["per_class"][name][ours] == pytest.approx(expected[name][theirs])
        assert report["per_class"][name]["support"] == expected[name]["support"]
    assert report["accuracy"] == pytest.approx(expected["accuracy"])
    assert report["confusion_matrix"] == skm.confusion_matrix(y, probs.argmax(1)).tolist()


def test_one_class_set_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="both positive and negative"):
        youden_threshold([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="labels but"):
        auc_with_ci([0, 1], [0.5])


def test_undefined_metrics_show_as_a_dash():
    # nothing called positive at 0.5: precision is undefined, not 0
    report = threshold_report([0, 1, 0, 1], [0.1, 0.4, 0.2, 0.45], None, n_bootstrap=10)
    assert np.isnan(report["default"]["precision"])
    row = next(line for line in format_threshold_table(report).splitlines() if line.startswith("| precision"))
    assert row.startswith("| precision | - |") and row.endswith("| - |")
