"""Segmentation metrics on 3D label maps, spacing-aware, through MONAI's metric functions.

Structures are unions of label values: ``liver`` is liver + tumor (as LiTS scores it), ``tumor`` is tumor.

Empty structures are handled explicitly:
- Dice and IoU: reference and prediction both empty -> 1.0; exactly one empty -> 0.0.
- HD95 and ASD (mm): both empty -> 0.0; exactly one empty -> NaN (undefined), left out of means and
  counted in the summary's ``n_undefined``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from monai.metrics import (
    compute_average_surface_distance,
    compute_dice,
    compute_hausdorff_distance,
    compute_iou,
)

from liver3d.evaluation.resampling import percentile_ci
from liver3d.labels import load_label_table


def default_structures() -> dict[str, tuple[int, ...]]:
    table = load_label_table()
    liver, tumor = table.value("liver"), table.value("tumor")
    return {"liver": (liver, tumor), "tumor": (tumor,)}


@dataclass
class StructureScores:
    case_id: str
    structure: str
    dice: float
    iou: float
    hd95_mm: float
    asd_mm: float
    reference_ml: float
    predicted_ml: float
    volume_difference_ml: float
    intersection_voxels: int
    reference_voxels: int
    predicted_voxels: int

    def row(self) -> dict:
        return asdict(self)


def _as_mask(label: np.ndarray | torch.Tensor, values: Sequence[int]) -> torch.Tensor:
    t = torch.as_tensor(np.ascontiguousarray(label) if not isinstance(label, torch.Tensor) else label)
    t = t.as_subclass(torch.Tensor) if hasattr(t, "as_subclass") else t
    if t.ndim == 4:
        t = t[0]
    return torch.isin(t.long(), torch.tensor(list(values)))


def score_structure(
    pred: np.ndarray | torch.Tensor,
    ref: np.ndarray | torch.Tensor,
    values: Sequence[int],
    spacing: Sequence[float],
    case_id: str = "",
    structure: str = "",
) -> StructureScores:
    """Scores of one structure on (X, Y, Z) or (1, X, Y, Z) label maps with voxel ``spacing`` in mm."""
    p, g = _as_mask(pred, values), _as_mask(ref, values)
    if p.shape != g.shape:
        raise ValueError(f"{case_id}: prediction shape {tuple(p.shape)} != reference shape {tuple(g.shape)}")
    voxel_ml = float(np.prod(spacing)) / 1000.0
    n_p, n_g, n_i = int(p.sum()), int(g.sum()), int((p & g).sum())
    yp = torch.stack([~p, p])[None].float()  # (1, 2, X, Y, Z) one-hot, channel 1 = structure
    yg = torch.stack([~g, g])[None].float()
    if n_p == 0 and n_g == 0:
        dice = iou = 1.0
        hd95 = asd = 0.0
    elif n_p == 0 or n_g == 0:
        dice = iou = 0.0
        hd95 = asd = math.nan
    else:
        dice = float(compute_dice(yp, yg, include_background=False, ignore_empty=False)[0, 0])
        iou = float(compute_iou(yp, yg, include_background=False, ignore_empty=False)[0, 0])
        sp = [float(s) for s in spacing]
        hd95 = float(
            compute_hausdorff_distance(yp, yg, include_background=False, percentile=95, spacing=sp)[0, 0]
        )
        asd = float(
            compute_average_surface_distance(yp, yg, include_background=False, symmetric=True, spacing=sp)[
                0, 0
            ]
        )
    return StructureScores(
        case_id,
        structure,
        dice,
        iou,
        hd95,
        asd,
        n_g * voxel_ml,
        n_p * voxel_ml,
        (n_p - n_g) * voxel_ml,
        n_i,
        n_g,
        n_p,
    )


def score_case(
    pred: np.ndarray | torch.Tensor,
    ref: np.ndarray | torch.Tensor,
    spacing: Sequence[float],
    case_id: str = "",
    structures: Mapping[str, Sequence[int]] | None = None,
) -> list[StructureScores]:
    structures = structures or default_structures()
    return [score_structure(pred, ref, values, spacing, case_id, name) for name, values in structures.items()]


def bootstrap_ci(
    values: Sequence[float],
    n_resamples: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
    groups: Sequence[Hashable] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean over cases (NaN entries dropped); with ``groups``
    (one patient per value, e.g. the case of each slice) whole patients are resampled."""
    keep = [i for i, v in enumerate(values) if not math.isnan(v)]
    x = np.asarray([values[i] for i in keep], dtype=float)
    if x.size == 0:
        return math.nan, math.nan
    if x.size == 1:
        return float(x[0]), float(x[0])
    kept_groups = [groups[i] for i in keep] if groups is not None else None
    return percentile_ci(lambda idx: float(x[idx].mean()), x.size, kept_groups, n_resamples, seed, alpha)


METRICS = ("dice", "iou", "hd95_mm", "asd_mm", "volume_difference_ml")


def summarize(scores: Sequence[StructureScores], seed: int = 0) -> list[dict]:
    """Per structure: mean, median, bootstrap 95% CI of each metric, plus the LiTS global Dice."""
    rows = []
    for structure in dict.fromkeys(s.structure for s in scores):
        group = [s for s in scores if s.structure == structure]
        inter = sum(s.intersection_voxels for s in group)
        total = sum(s.reference_voxels + s.predicted_voxels for s in group)
        row: dict = {
            "structure": structure,
            "n_cases": len(group),
            "global_dice": (2.0 * inter / total) if total else 1.0,
        }
        for metric in METRICS:
            values = [getattr(s, metric) for s in group]
            finite = [v for v in values if not math.isnan(v)]
            lo, hi = bootstrap_ci(values, seed=seed)
            row[f"{metric}_mean"] = float(np.mean(finite)) if finite else math.nan
            row[f"{metric}_median"] = float(np.median(finite)) if finite else math.nan
            row[f"{metric}_ci95_low"], row[f"{metric}_ci95_high"] = lo, hi
            if metric in ("hd95_mm", "asd_mm"):
                row[f"{metric}_n_undefined"] = len(values) - len(finite)
        rows.append(row)
    return rows


def _cell(row: dict, metric: str, fmt: str = ".3f") -> str:
    mean, lo, hi = row[f"{metric}_mean"], row[f"{metric}_ci95_low"], row[f"{metric}_ci95_high"]
    return "n/a" if math.isnan(mean) else f"{mean:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def format_table(summary: Sequence[dict]) -> str:
    """A Markdown table of the summary: mean [95% CI] per metric."""
    head = "| structure | n | Dice | IoU | HD95 mm | ASD mm | vol. diff. mL | global Dice |"
    lines = [head, "|" + "---|" * 8]
    for r in summary:
        lines.append(
            f"| {r['structure']} | {r['n_cases']} | {_cell(r, 'dice')} | {_cell(r, 'iou')} | {_cell(r, 'hd95_mm', '.1f')} | "
            f"{_cell(r, 'asd_mm', '.2f')} | {_cell(r, 'volume_difference_ml', '.1f')} | {r['global_dice']:.3f} |"
        )
    return "\n".join(lines)
