"""Writing per-case metric tables and summaries (CSV + JSON + Markdown), atomically."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

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
