"""Figures of a classifier's results: confusion matrix and one-vs-rest ROC curves (PNG, written atomically)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from liver3d.viz.figures import save_figure  # noqa: E402


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Counts with row-normalised shading (each row sums to the class's support)."""
    counts = np.asarray(matrix, dtype=float)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = 1.2 * len(class_names) + 2
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(
                j,
                i,
                f"{int(counts[i, j])}\n{rates[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if rates[i, j] > 0.5 else "black",
                fontsize=9,
            )
    ax.set_xticks(range(len(class_names)), class_names, rotation=30, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix (row %: recall)")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def plot_roc(
    y_true: Sequence[int], y_prob: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """One-vs-rest ROC curve per class that has both positives and negatives, AUC in the legend."""
    y_true = np.asarray(y_true, dtype=int)
    y_prob = np.asarray(y_prob, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 5))
    for c, name in enumerate(class_names):
        positives = y_true == c
        if positives.all() or not positives.any():
            continue
        fpr, tpr, _ = skm.roc_curve(positives, y_prob[:, c])
        ax.plot(fpr, tpr, label=f"{name} (AUC {skm.auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(title or "ROC, one vs rest")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.set_title((title or "ROC") + " (undefined: one class only)")
    ax.set_aspect("equal")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def plot_binary_roc(
    y_true: Sequence[int], score: Sequence[float], report: dict, path: str | Path, positive: str = "positive"
) -> Path:
    """The ROC of a binary task with its AUC (CI) and the default and optimal operating points marked."""
    fpr, tpr, _ = skm.roc_curve(np.asarray(y_true, dtype=int), np.asarray(score, dtype=float))
    ci = report["auc_ci95"]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, lw=1.5, label=f"{positive}: AUC {report['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]")
    for key, marker in (("default", "o"), ("optimal", "*")):
        point = report[key]
        ax.plot(
            1 - point["specificity"],
            point["sensitivity"],
            marker,
            ms=10 if marker == "*" else 7,
            label=f"{key} threshold {point['threshold']:.3f}: sens {point['sensitivity']:.2f}, "
            f"spec {point['specificity']:.2f}",
        )
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(f"ROC; optimal threshold from {report['threshold_source']}", fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    ax.set_aspect("equal")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
