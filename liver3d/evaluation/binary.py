"""Binary operating points: the ROC's Youden-optimal threshold, and the seed 002 threshold table.

The threshold is chosen on one set (validation) and applied to another (test); choosing it on the test set,
as seed 002 did, reports an optimistic operating point. A case is called positive when its score is at or
above the threshold.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from sklearn import metrics as skm

from liver3d.evaluation.resampling import percentile_ci, resampling_unit

TABLE_METRICS = ("accuracy", "precision", "sensitivity", "specificity")


def youden_threshold(y_true: Sequence[int], score: Sequence[float]) -> dict:
    """The ROC point with the largest Youden index J = sensitivity + specificity - 1.

    Returns ``threshold`` (the score cut-off of that point), ``youden_j``, ``sensitivity`` and
    ``specificity`` there. Ties go to the higher threshold (fewer positive calls).
    """
    y_true, score = _check(y_true, score)
    fpr, tpr, thresholds = skm.roc_curve(y_true, score, drop_intermediate=False)
    finite = np.isfinite(thresholds)  # sklearn's first point (threshold +inf) calls nothing positive
    j = np.where(finite, tpr - fpr, -np.inf)
    best = int(np.flatnonzero(j >= j.max() - 1e-12)[0])  # highest threshold among (float) ties
    return {
        "threshold": float(thresholds[best]),
        "youden_j": float(j[best]),
        "sensitivity": float(tpr[best]),
        "specificity": float(1 - fpr[best]),
    }


def metrics_at(y_true: Sequence[int], score: Sequence[float], threshold: float) -> dict:
    """Accuracy, precision (PPV), sensitivity (recall), specificity, NPV and F1 of ``score >= threshold``."""
    y_true, score = _check(y_true, score)
    pred = score >= threshold
    tp = int(np.sum(pred & (y_true == 1)))
    fp = int(np.sum(pred & (y_true == 0)))
    fn = int(np.sum(~pred & (y_true == 1)))
    tn = int(np.sum(~pred & (y_true == 0)))
    precision = _ratio(tp, tp + fp)
    sensitivity = _ratio(tp, tp + fn)
    return {
        "threshold": float(threshold),
        "accuracy": _ratio(tp + tn, len(y_true)),
        "precision": precision,
        "sensitivity": sensitivity,
        "specificity": _ratio(tn, tn + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def auc_with_ci(
    y_true: Sequence[int],
    score: Sequence[float],
    n_bootstrap: int = 1000,
    seed: int = 0,
    groups: Sequence[Hashable] | None = None,
) -> dict:
    """ROC AUC and its 95% bootstrap CI, resampling samples or, with ``groups``, patients (resamples with one
    class only are skipped)."""
    y_true, score = _check(y_true, score)
    auc = float(skm.roc_auc_score(y_true, score))

    def resampled_auc(idx: np.ndarray) -> float:
        if not 0 < y_true[idx].sum() < len(idx):
            return float("nan")
        return float(skm.roc_auc_score(y_true[idx], score[idx]))

    ci = percentile_ci(resampled_auc, len(y_true), groups, n_bootstrap, seed)
    return {"auc": auc, "auc_ci95": list(ci), "ci95_resampled": resampling_unit(groups, len(y_true))}


def threshold_report(
    y_true: Sequence[int],
    score: Sequence[float],
    chosen: dict | None = None,
    default_threshold: float = 0.5,
    n_bootstrap: int = 1000,
    seed: int = 0,
    groups: Sequence[Hashable] | None = None,
) -> dict:
    """AUC with CI (resampling ``groups``, the patients, when given), and the metrics at ``default_threshold``
    and at the optimal threshold.

    ``chosen``: the :func:`youden_threshold` result of another set (validation); without it the optimum
    of this set is used and the report says ``"threshold_source": "this set"``.
    """
    own = youden_threshold(y_true, score)
    report = auc_with_ci(y_true, score, n_bootstrap, seed, groups)
    report["n"] = int(len(np.asarray(y_true)))
    report["positives"] = int(np.sum(np.asarray(y_true) == 1))
    report["optimum_this_set"] = own
    report["threshold_source"] = "validation" if chosen is not None else "this set"
    optimal = (chosen or own)["threshold"]
    report["default"] = metrics_at(y_true, score, default_threshold)
    report["optimal"] = metrics_at(y_true, score, optimal)
    return report


def format_threshold_table(report: dict, positive: str = "positive") -> str:
    """Seed 002's table: metrics at the default and at the optimal threshold, and the change."""
    d, o = report["default"], report["optimal"]
    ci = report["auc_ci95"]
    unit = report.get("ci95_resampled", {"unit": "samples", "n": report["n"]})
    lines = [
        f"AUC ({positive} vs rest) {report['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] "
        f"(95% bootstrap CI, {unit['n']} {unit['unit']} resampled); "
        f"n = {report['n']}, {report['positives']} {positive}; optimal threshold from "
        f"{report['threshold_source']}",
        "",
        f"| metric | default ({d['threshold']:.3g}) | optimal ({o['threshold']:.3f}) | change |",
        "|---|---|---|---|",
    ]
    for name in TABLE_METRICS:
        change = o[name] - d[name]
        shown = "-" if np.isnan(change) else f"{change * 100:+.1f} pt"
        lines.append(f"| {name} | {_num(d[name])} | {_num(o[name])} | {shown} |")
    return "\n".join(lines)


def _num(value: float) -> str:
    """Three decimals; '-' where a metric is undefined (e.g. precision with no positive calls)."""
    return "-" if np.isnan(value) else f"{value:.3f}"


def _check(y_true: Sequence[int], score: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    score = np.asarray(score, dtype=float).reshape(-1)
    if y_true.shape != score.shape:
        raise ValueError(f"{len(y_true)} labels but {len(score)} scores")
    if not set(np.unique(y_true)) <= {0, 1}:
        raise ValueError(f"binary labels must be 0/1, got {sorted(set(np.unique(y_true).tolist()))}")
    if y_true.min() == y_true.max():
        raise ValueError("ROC needs both positive and negative cases; this set has one class only")
    return y_true, score


def _ratio(num: int, den: int) -> float:
    return float(num / den) if den else float("nan")
