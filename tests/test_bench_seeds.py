"""scripts/bench_seeds.py: metric paths into the bundles' JSON, and the spread over seeds."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from liver3d.evaluation.lookup import MetricNotFound, read_metric

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_seeds.py"
spec = importlib.util.spec_from_file_location("bench_seeds", SCRIPT)
bench_seeds = importlib.util.module_from_spec(spec)
sys.modules["bench_seeds"] = bench_seeds
spec.loader.exec_module(bench_seeds)


def test_dotted_paths_index_lists_and_pick_rows(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps(
            [
                {"structure": "liver", "protocol": "slice", "dice_mean": 0.9},
                {"structure": "tumor", "protocol": "volume", "dice_mean": 0.4},
                {"structure": "tumor", "protocol": "slice", "dice_mean": 0.3},
            ]
        )
    )
    assert bench_seeds.read_metric is read_metric  # the script reads results as the demo does
    assert read_metric(path, "structure=tumor.dice_mean") == 0.4
    assert read_metric(path, "structure=tumor&protocol=slice.dice_mean") == 0.3
    assert read_metric(path, "0.dice_mean") == 0.9
    path.write_text(json.dumps({"overlap": {"recall": {"value": 0.5}}}))
    assert read_metric(path, "overlap.recall.value") == 0.5
    with pytest.raises(MetricNotFound, match="no number at 'overlap.precision'"):
        read_metric(path, "overlap.precision")  # a dict, not a number
    with pytest.raises(MetricNotFound, match="no number at 'structure=x.dice'"):
        read_metric(path, "structure=x.dice")
    with pytest.raises(MetricNotFound, match="result file not found"):
        read_metric(tmp_path / "missing.json", "a")


def test_mean_sd_and_table():
    summary = bench_seeds.summarize({"auc": [0.9, 0.95, 1.0]})
    assert summary["auc"]["mean"] == pytest.approx(0.95) and summary["auc"]["sd"] == pytest.approx(0.05)
    table = bench_seeds.markdown(summary, [0, 1, 2], {"auc": 0.9})
    assert "| auc | 0.950 ± 0.050 | 0.900 | 0.950 | 1.000 | 0.9 |" in table
