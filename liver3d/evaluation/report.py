"""Writing per-case metric tables and summaries (CSV + JSON + Markdown), atomically: voxel metrics and
lesion-wise detection (with the FROC table and figure)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from liver3d.evaluation.detection import format_lesion_tables, froc_rows, plot_froc, summarize_lesions
from liver3d.evaluation.lesions import CaseLesions
from liver3d.evaluation.metrics import StructureScores, format_table, summarize
from liver3d.io.atomic import atomic_path


def write_csv(rows: Sequence[dict], path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    return Path(path)


def write_evaluation(
    scores: Sequence[StructureScores], out_dir: str | Path, seed: int = 0
) -> dict[str, Path]:
    """``metrics_per_case.csv``, ``metrics_summary.csv``, ``metrics_summary.json`` and ``metrics_summary.md``."""
    out_dir = Path(out_dir)
    summary = summarize(scores, seed)
    paths = {
        "per_case": write_csv([s.row() for s in scores], out_dir / "metrics_per_case.csv"),
        "summary_csv": write_csv(summary, out_dir / "metrics_summary.csv"),
    }
    with atomic_path(out_dir / "metrics_summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    paths["summary_json"] = out_dir / "metrics_summary.json"
    with atomic_path(out_dir / "metrics_summary.md") as tmp:
        tmp.write_text(format_table(summary) + "\n", encoding="utf-8")
    paths["summary_md"] = out_dir / "metrics_summary.md"
    return paths


#: What each lesion evaluation file holds (recorded in ``lesions_summary.json``).
LESION_FILES = {
    "lesions_per_lesion.csv": "one row per reference lesion: diameter, size band, volume, match IoU and Dice",
    "lesions_per_case.csv": "one row per case: lesion counts, TP/FP/FN per criterion, tumor burden",
    "lesions_summary.json": "set-level precision, recall, F1, FP per case, recall by size, per-lesion Dice, "
    "burden error, each with a case-bootstrap 95% CI; the FROC rows",
    "lesions_summary.md": "the same as Markdown tables",
    "froc.csv": "recall and FP per case at each tumor probability threshold (written with probabilities)",
    "froc.png": "the FROC curve (written with probabilities)",
}


def write_lesion_evaluation(
    cases: Sequence[CaseLesions],
    out_dir: str | Path,
    froc_cases: dict[float, list[CaseLesions]] | None = None,
    seed: int = 0,
    n_resamples: int = 2000,
) -> dict[str, Path]:
    """The lesion-wise files of :data:`LESION_FILES` under ``out_dir``; returns their paths by name."""
    out_dir = Path(out_dir)
    summary = summarize_lesions(cases, n_resamples=n_resamples, seed=seed)
    froc = froc_rows(froc_cases, n_resamples=n_resamples, seed=seed) if froc_cases else []
    paths = {
        "per_lesion": write_csv(
            [r.row() for c in cases for r in c.references], out_dir / "lesions_per_lesion.csv"
        ),
        "per_case": write_csv([c.row() for c in cases], out_dir / "lesions_per_case.csv"),
    }
    record = {"files": {k: v for k, v in LESION_FILES.items() if froc or not k.startswith("froc")}, **summary}
    record["froc"] = froc
    with atomic_path(out_dir / "lesions_summary.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    paths["summary_json"] = out_dir / "lesions_summary.json"
    with atomic_path(out_dir / "lesions_summary.md") as tmp:
        tmp.write_text(format_lesion_tables(summary, froc) + "\n", encoding="utf-8")
    paths["summary_md"] = out_dir / "lesions_summary.md"
    if froc:
        paths["froc_csv"] = write_csv(froc, out_dir / "froc.csv")
        paths["froc_png"] = plot_froc(froc, out_dir / "froc.png")
    return paths
