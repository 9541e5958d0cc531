"""scripts/bench_seeds.py: metric paths into the bundles' JSON, and the spread over seeds."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_seeds.py"
spec = importlib.util.spec_from_file_location("bench_seeds", SCRIPT)
bench_seeds = importlib.util.module_from_spec(spec)
sys.modules["bench_seeds"] = bench_seeds
spec.loader.exec_module(bench_seeds)


def test_dotted_paths_index_lists_and_pick_rows(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps([{"structure": "liver", "dice_mean": 0.9}, {"structure": "tumor", "dice_mean": 0.4}])
    )
    assert bench_seeds.read_metric(path, "structure=tumor.dice_mean") == 0.4
    assert bench_seeds.read_metric(path, "0.dice_mean") == 0.9
    path.write_text(json.dumps({"overlap": {"recall": {"value": 0.5}}}))
    assert bench_seeds.read_metric(path, "overlap.recall.value") == 0.5
    with pytest.raises(KeyError):
        bench_seeds.read_metric(path, "overlap.precision")


def test_mean_sd_and_table():
    summary = bench_seeds.summarize({"auc": [0.9, 0.95, 1.0]})
    assert summary["auc"]["mean"] == pytest.approx(0.95) and summary["auc"]["sd"] == pytest.approx(0.05)
    table = bench_seeds.markdown(summary, [0, 1, 2], {"auc": 0.9})
    assert "| auc | 0.950 ± 0.050 | 0.900 | 0.950 | 1.000 | 0.9 |" in table
