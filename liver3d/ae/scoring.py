"""The reconstruction-error map as a tumor detector inside the liver, scored on the model's grid: voxel AUROC
(tumor vs parenchyma) and per-lesion hits (a lesion is hit when its mean error exceeds the parenchyma's
``1 - liver_fpr`` quantile: a threshold that flags ``liver_fpr`` of normal liver voxels; the mean, not the
maximum, so a large lesion is not hit by chance); the per-case and overall tables."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from liver3d.labels import load_label_table


def score_error_map(
    error: np.ndarray, label: np.ndarray, liver_fpr: float = 0.05, max_voxels: int = 2_000_000, seed: int = 0
) -> dict:
    """Voxel AUROC of ``error`` for tumor vs parenchyma, and lesions (3D components) whose mean error exceeds the
    parenchyma's (1 - ``liver_fpr``) quantile."""
    table = load_label_table()
    tumor = label == table.value("tumor")
    parenchyma = label == table.value("liver")
    result = {"tumor_voxels": int(tumor.sum()), "parenchyma_voxels": int(parenchyma.sum())}
    if not parenchyma.any():
        return {**result, "auroc": math.nan, "threshold": math.nan, "lesions": 0, "lesions_hit": 0}
    threshold = float(np.quantile(error[parenchyma], 1 - liver_fpr))
    components, count = ndimage.label(tumor, structure=np.ones((3, 3, 3), bool))
    means = ndimage.mean(error, components, index=np.arange(1, count + 1)) if count else []
    auroc = math.nan
    if tumor.any():
        scores = np.concatenate([error[tumor], error[parenchyma]])
        truth = np.concatenate([np.ones(int(tumor.sum())), np.zeros(int(parenchyma.sum()))])
        if len(scores) > max_voxels:
            pick = np.random.default_rng(seed).choice(len(scores), max_voxels, replace=False)
            scores, truth = scores[pick], truth[pick]
        auroc = float(roc_auc_score(truth, scores))
    return {
        **result,
        "auroc": auroc,
        "threshold": threshold,
        "lesions": int(count),
        "lesions_hit": int(np.sum(np.asarray(means) > threshold)),
    }


def summarize_cases(cases: list[dict], liver_fpr: float) -> dict:
    aurocs = [c["auroc"] for c in cases if not math.isnan(c["auroc"])]
    lesions = sum(c["lesions"] for c in cases)
    hits = sum(c["lesions_hit"] for c in cases)
    return {
        "cases": len(cases),
        "cases_with_tumor": len(aurocs),
        "mean_auroc": float(np.mean(aurocs)) if aurocs else math.nan,
        "lesions": lesions,
        "lesions_hit": hits,
        "lesion_hit_rate": hits / lesions if lesions else math.nan,
        "liver_false_positive_rate": liver_fpr,
    }


def format_ae_table(cases: list[dict], summary: dict) -> str:
    lines = ["| case | tumor AUROC | lesions hit | threshold |", "|---|---|---|---|"]
    for c in cases:
        lines.append(
            f"| {c['case_id']} | {c['auroc']:.3f} | {c['lesions_hit']}/{c['lesions']} | {c['threshold']:.4f} |"
        )
    lines.append(
        f"| **all** | {summary['mean_auroc']:.3f} (mean of {summary['cases_with_tumor']}) | "
        f"{summary['lesions_hit']}/{summary['lesions']} ({summary['lesion_hit_rate']:.2f}) | "
        f"{summary['liver_false_positive_rate']:.0%} of parenchyma above |"
    )
    if "latent_separability" in summary:
        lines += [
            "",
            f"latent separability (tumor vs liver patches, case-held-out balanced accuracy): "
            f"{summary['latent_separability']:.3f}",
        ]
    return "\n".join(lines)
