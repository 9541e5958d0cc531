"""Set-level lesion detection scores over cases, with case-resampling bootstrap CIs, and the FROC curve.

Precision, recall and F1 pool the TP / FP / FN counts of all cases (as LiTS does); false positives per case
are the pooled FP over the number of cases. Per-lesion Dice is the mean over reference lesions. Every
confidence interval resamples *cases* (with all their lesions) ``n_resamples`` times: lesions of one patient
are not independent. Tumor burden error is predicted minus reference burden per case; its RMSE and maximum
absolute value are given over cases.

The FROC curve: the tumor probability map is thresholded at each of ``thresholds``, the lesions of each
thresholded mask are matched again (:func:`liver3d.evaluation.lesions.match_lesions`), and recall (overlap
criterion) is plotted against false positives per case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from liver3d.evaluation.lesions import CRITERIA, SIZE_BANDS, CaseLesions
from liver3d.evaluation.resampling import resample_indices

FROC_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _ci(samples: np.ndarray) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return math.nan, math.nan
    return float(np.quantile(finite, 0.025)), float(np.quantile(finite, 0.975))


def _resamples(n_cases: int, n_resamples: int, seed: int) -> np.ndarray:
    """(1 + n_resamples, n_cases) case indices; row 0 is the observed set, the others the case resamples of
    :func:`~liver3d.evaluation.resampling.resample_indices`."""
    return np.stack([np.arange(n_cases), *resample_indices(n_cases, None, n_resamples, seed)])


def _stat(values: np.ndarray) -> dict:
    """Observed value (row 0) and the bootstrap 95% CI (the other rows)."""
    lo, hi = _ci(values[1:]) if values.size > 1 else (math.nan, math.nan)
    return {"value": float(values[0]), "ci95_low": lo, "ci95_high": hi}


def detection_scores(cases: Sequence[CaseLesions], criterion: str, index: np.ndarray) -> dict[str, dict]:
    """Precision, recall, F1 and FP per case for one criterion, over the case resamples ``index``."""
    tp = np.array([c.counts(criterion)[0] for c in cases], dtype=float)
    fp = np.array([c.counts(criterion)[1] for c in cases], dtype=float)
    fn = np.array([c.counts(criterion)[2] for c in cases], dtype=float)
    TP, FP, FN = tp[index].sum(1), fp[index].sum(1), fn[index].sum(1)
    precision, recall = _ratio(TP, TP + FP), _ratio(TP, TP + FN)
    f1 = _ratio(2 * TP, 2 * TP + FP + FN)  # 0 when nothing matches; NaN only without any lesion at all
    out = {
        "precision": _stat(precision),
        "recall": _stat(recall),
        "f1": _stat(f1),
        "fp_per_case": _stat(FP / index.shape[1]),
    }
    out["counts"] = {"tp": int(tp.sum()), "fp": int(fp.sum()), "fn": int(fn.sum())}
    return out


def band_recall(cases: Sequence[CaseLesions], criterion: str, band: str, index: np.ndarray) -> dict:
    found = np.array(
        [sum(r.detected(criterion) for r in c.references if r.size_band == band) for c in cases], float
    )
    total = np.array([sum(r.size_band == band for r in c.references) for c in cases], float)
    stat = _stat(_ratio(found[index].sum(1), total[index].sum(1)))
    stat["lesions"] = int(total.sum())
    return stat


def summarize_lesions(cases: Sequence[CaseLesions], n_resamples: int = 2000, seed: int = 0) -> dict:
    """Lesion detection summary of a set of cases (see the module docstring); a JSON-ready dict."""
    if not cases:
        raise ValueError("no cases to summarize")
    index = _resamples(len(cases), n_resamples, seed)
    summary: dict = {
        "n_cases": len(cases),
        "reference_lesions": sum(len(c.references) for c in cases),
        "predicted_lesions": sum(c.predicted_lesions for c in cases),
        "n_resamples": n_resamples,
        "criteria": {name: ("overlap > 0" if t == 0 else f"IoU > {t:g}") for name, t in CRITERIA.items()},
    }
    for criterion in CRITERIA:
        scores = detection_scores(cases, criterion, index)
        scores["recall_by_size"] = {
            band: band_recall(cases, criterion, band, index) for band, _, _ in SIZE_BANDS
        }
        summary[criterion] = scores
    dice_sum = np.array([sum(r.dice for r in c.references) for c in cases], float)
    lesions = np.array([len(c.references) for c in cases], float)
    summary["per_lesion_dice"] = _stat(_ratio(dice_sum[index].sum(1), lesions[index].sum(1)))
    errors = np.array([c.predicted_burden - c.reference_burden for c in cases], float)
    summary["burden_rmse"] = _stat(np.sqrt((errors[index] ** 2).mean(1)))
    summary["burden_max_abs_error"] = _stat(np.abs(errors[index]).max(1))
    return summary


def froc_rows(
    by_threshold: Mapping[float, Sequence[CaseLesions]], n_resamples: int = 2000, seed: int = 0
) -> list[dict]:
    """One row per probability threshold: recall (overlap criterion) and FP per case, with their CIs."""
    rows = []
    for threshold in sorted(by_threshold):
        cases = by_threshold[threshold]
        index = _resamples(len(cases), n_resamples, seed)
        scores = detection_scores(cases, "overlap", index)
        rows.append(
            {
                "threshold": float(threshold),
                "recall": scores["recall"]["value"],
                "recall_ci95_low": scores["recall"]["ci95_low"],
                "recall_ci95_high": scores["recall"]["ci95_high"],
                "fp_per_case": scores["fp_per_case"]["value"],
                "fp_per_case_ci95_low": scores["fp_per_case"]["ci95_low"],
                "fp_per_case_ci95_high": scores["fp_per_case"]["ci95_high"],
                **scores["counts"],
            }
        )
    return rows


def _cell(stat: dict, fmt: str = ".2f") -> str:
    value, lo, hi = stat["value"], stat["ci95_low"], stat["ci95_high"]
    if math.isnan(value):
        return "n/a"
    return f"{value:{fmt}}" if math.isnan(lo) else f"{value:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def format_lesion_tables(summary: dict, froc: Sequence[dict] = ()) -> str:
    """Markdown: detection per criterion, recall by size band, per-lesion Dice and burden, FROC points."""
    lines = [
        f"{summary['n_cases']} cases, {summary['reference_lesions']} reference lesions, "
        f"{summary['predicted_lesions']} predicted lesions; mean [95% CI, {summary['n_resamples']} case resamples]",
        "",
        "| criterion | precision | recall | F1 | FP per case | TP | FP | FN |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for criterion, label in summary["criteria"].items():
        s = summary[criterion]
        c = s["counts"]
        lines.append(
            f"| {label} | {_cell(s['precision'])} | {_cell(s['recall'])} | {_cell(s['f1'])} | "
            f"{_cell(s['fp_per_case'])} | {c['tp']} | {c['fp']} | {c['fn']} |"
        )
    lines += ["", "| size (longest axial diameter) | lesions | recall, overlap > 0 | recall, IoU > 0.5 |"]
    lines.append("|---|---|---|---|")
    for band, _, _ in SIZE_BANDS:
        a, b = summary["overlap"]["recall_by_size"][band], summary["iou50"]["recall_by_size"][band]
        lines.append(f"| {band} | {a['lesions']} | {_cell(a)} | {_cell(b)} |")
    lines += [
        "",
        f"Per-lesion Dice: {_cell(summary['per_lesion_dice'], '.3f')}; tumor burden RMSE "
        f"{_cell(summary['burden_rmse'], '.4f')}, max absolute error {_cell(summary['burden_max_abs_error'], '.4f')}.",
    ]
    if froc:
        lines += ["", "| FROC threshold | recall | FP per case |", "|---|---|---|"]
        for row in froc:
            recall = {
                "value": row["recall"],
                "ci95_low": row["recall_ci95_low"],
                "ci95_high": row["recall_ci95_high"],
            }
            fps = {
                "value": row["fp_per_case"],
                "ci95_low": row["fp_per_case_ci95_low"],
                "ci95_high": row["fp_per_case_ci95_high"],
            }
            lines.append(f"| {row['threshold']:g} | {_cell(recall)} | {_cell(fps)} |")
    return "\n".join(lines)


def plot_froc(
    rows: Sequence[dict], path: str | Path, title: str = "FROC (lesion recall, overlap > 0)"
) -> Path:
    """The FROC curve with its recall CI band, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from liver3d.io.atomic import atomic_path

    fps = [r["fp_per_case"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.fill_between(
        fps, [r["recall_ci95_low"] for r in rows], [r["recall_ci95_high"] for r in rows], alpha=0.2
    )
    ax.plot(fps, [r["recall"] for r in rows], marker="o")
    for r in rows:
        ax.annotate(f"{r['threshold']:g}", (r["fp_per_case"], r["recall"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")  # fmt: skip
    ax.set_xlabel("false positives per case")
    ax.set_ylabel("lesion recall")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
