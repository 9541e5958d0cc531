"""Classification metrics over slices or volumes: accuracy, balanced accuracy, per-class precision / recall /
F1, confusion matrix, one-vs-rest ROC AUC (scikit-learn's implementations), with bootstrap 95% CIs that resample
patients when each sample's patient is given (:mod:`liver3d.evaluation.resampling`), samples otherwise."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from sklearn import metrics as skm

from liver3d.evaluation.resampling import percentile_ci, resampling_unit


def classification_report(
    y_true: Sequence[int],
    y_prob: np.ndarray,
    class_names: Sequence[str],
    n_bootstrap: int = 1000,
    seed: int = 0,
    groups: Sequence[Hashable] | None = None,
) -> dict:
    """Metrics of predicted probabilities ``y_prob`` (N, C) against labels ``y_true`` (N,); ``groups`` (N,), the
    patient of each sample, makes the CIs resample patients (``ci95_resampled`` says which)."""
    y_true = np.asarray(y_true, dtype=int)
    y_prob = np.asarray(y_prob, dtype=float)
    y_pred = y_prob.argmax(1)
    labels = list(range(len(class_names)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    report = {
        "n": int(len(y_true)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred, labels),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "per_class": {
            name: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
                "auc": _auc(y_true, y_prob, c),
            }
            for c, (name, p, r, f, s) in enumerate(zip(class_names, precision, recall, f1, support))
        },
    }
    for key, statistic in (
        ("accuracy", lambda idx: skm.accuracy_score(y_true[idx], y_pred[idx])),
        ("balanced_accuracy", lambda idx: _balanced_accuracy(y_true[idx], y_pred[idx], labels)),
    ):
        report[f"{key}_ci95"] = list(percentile_ci(statistic, len(y_true), groups, n_bootstrap, seed))
    report["ci95_resampled"] = resampling_unit(groups, len(y_true))
    return report


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, labels: list[int]) -> float:
    """Mean recall over the classes present in ``y_true``."""
    recalls = [np.mean(y_pred[y_true == c] == c) for c in labels if np.any(y_true == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def _auc(y_true: np.ndarray, y_prob: np.ndarray, cls: int) -> float:
    positives = y_true == cls
    if positives.all() or not positives.any():
        return float("nan")  # undefined without both positives and negatives
    return float(skm.roc_auc_score(positives, y_prob[:, cls]))


def format_classification_table(report: dict) -> str:
    """Markdown: overall accuracy / balanced accuracy with CIs, then one row per class."""
    ci = report.get("accuracy_ci95", [float("nan")] * 2)
    bci = report.get("balanced_accuracy_ci95", [float("nan")] * 2)
    unit = report.get("ci95_resampled", {"unit": "samples", "n": report["n"]})
    lines = [
        f"n = {report['n']}; accuracy {report['accuracy']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]; "
        f"balanced accuracy {report['balanced_accuracy']:.3f} [{bci[0]:.3f}, {bci[1]:.3f}] "
        f"(95% bootstrap CI, {unit['n']} {unit['unit']} resampled)",
        "",
        "| class | precision | recall | F1 | AUC (one-vs-rest) | support |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in report["per_class"].items():
        lines.append(
            f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
            f"{row['auc']:.3f} | {row['support']} |"
        )
    return "\n".join(lines)
