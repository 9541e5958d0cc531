"""scripts/bench_seeds.py: metric paths into the bundles' JSON, and the spread over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from script_utils import load_script

from liver3d.evaluation.lookup import MetricNotFound, read_metric

bench_seeds = load_script("bench_seeds")


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


def test_each_seed_trains_then_runs_the_follow_up_configs_in_the_same_root(tmp_path, monkeypatch):
    calls = []

    def fake_call(cmd, **kwargs):
        calls.append(cmd)
        root = Path(cmd[cmd.index("--bundle_root") + 1])
        seed = int(cmd[cmd.index("--seed") + 1])
        if "evaluate.json" in cmd[cmd.index("--config_file") + 1]:
            (root / "report.json").write_text(json.dumps({"balanced_accuracy": 0.7 + 0.1 * seed}))
        return 0

    monkeypatch.setattr(bench_seeds.subprocess, "call", fake_call)
    code = bench_seeds.main(
        ["--bundle", "liver_slice_cls", "--configs", "train.json", "--then", "train.json,evaluate.json",
         "--metric", "report.json:balanced_accuracy", "--seeds", "0", "1", "--set", "max_epochs=2",
         "--floor", "balanced_accuracy=0.75", "--work", str(tmp_path)]
    )  # fmt: skip
    assert code == 1  # seed 0 (0.70) is below the floor
    assert len(calls) == 4
    train, evaluate = calls[0], calls[1]
    assert "evaluate.json" not in train[train.index("--config_file") + 1] and "--resume" in train
    assert train[train.index("--resume") + 1] == "False"  # a benchmark starts over unless told to resume
    assert "evaluate.json" in evaluate[evaluate.index("--config_file") + 1] and "--resume" not in evaluate
    assert all(c[c.index("--max_epochs") + 1] == "2" for c in calls)
    record = json.loads((tmp_path / "seeds.json").read_text())
    assert record["summary"]["balanced_accuracy"]["values"] == pytest.approx([0.7, 0.8])
    assert record["below_floor"] == {"balanced_accuracy": [0]}


def test_a_floor_on_a_row_picked_by_name_splits_at_the_last_equals_sign(tmp_path, monkeypatch):
    def fake_call(cmd, **kwargs):
        root = Path(cmd[cmd.index("--bundle_root") + 1])
        rows = [{"structure": "liver", "iou": 0.4}, {"structure": "tumor", "iou": 0.1 + 0.1 * len(root.name)}]
        (root / "cam.json").write_text(json.dumps({"summary": rows}))
        return 0

    monkeypatch.setattr(bench_seeds.subprocess, "call", fake_call)
    common = ["--bundle", "liver_slice_cls", "--configs", "train.json", "--metric",
              "cam.json:summary.structure=tumor.iou", "--seeds", "0", "--work", str(tmp_path)]  # fmt: skip
    assert bench_seeds.main([*common, "--floor", "summary.structure=tumor.iou=0.5"]) == 0  # 0.7 >= 0.5
    assert bench_seeds.main([*common, "--floor", "summary.structure=tumor.iou=0.8"]) == 1
    with pytest.raises(SystemExit):
        bench_seeds.main([*common, "--floor", "summary.structure=tumor.iou"])  # no number: a usage error


def test_a_step_gets_its_own_overrides_and_no_train_reads_what_is_there(tmp_path, monkeypatch):
    calls = []

    def fake_call(cmd, **kwargs):
        calls.append(cmd)
        root = Path(cmd[cmd.index("--bundle_root") + 1])
        (root / "report.json").write_text(json.dumps({"balanced_accuracy": 0.9}))
        return 0

    monkeypatch.setattr(bench_seeds.subprocess, "call", fake_call)
    code = bench_seeds.main(
        ["--bundle", "liver_slice_cls", "--configs", "train.json", "--no-train",
         "--then", "train.json,evaluate.json liver_mask_margin_mm=0 output_dir=eval/read0",
         "train.json,evaluate_cam.json cam_inside_liver=True",
         "--metric", "report.json:balanced_accuracy", "--seeds", "0",
         "--set", "liver_mask_margin_mm=5", "max_epochs=2", "--work", str(tmp_path)]
    )  # fmt: skip
    assert code == 0 and len(calls) == 2  # nothing trained: only the two steps ran
    evaluate, cam = calls
    assert all("--resume" not in c for c in calls)
    assert evaluate.count("--liver_mask_margin_mm") == 1  # the step's value replaces --set's
    assert evaluate[evaluate.index("--liver_mask_margin_mm") + 1] == "0"
    assert (
        evaluate[evaluate.index("--output_dir") + 1] == "eval/read0" and "--cam_inside_liver" not in evaluate
    )
    assert (
        cam[cam.index("--liver_mask_margin_mm") + 1] == "5"
        and cam[cam.index("--cam_inside_liver") + 1] == "True"
    )
    assert all(c[c.index("--max_epochs") + 1] == "2" for c in calls)
    assert json.loads((tmp_path / "seeds.json").read_text())["no_train"] is True


@pytest.mark.parametrize(
    "bad",
    [
        ["--then", "cam_inside_liver=True"],  # no config list
        ["--then", "train.json,evaluate.json --resume"],  # not KEY=VALUE
        ["--set", "max_epochs"],
        ["--no-train"],  # nothing left to run
    ],
)
def test_malformed_steps_and_settings_are_usage_errors(tmp_path, monkeypatch, bad):
    monkeypatch.setattr(bench_seeds.subprocess, "call", lambda *a, **k: pytest.fail("nothing may run"))
    with pytest.raises(SystemExit) as exit_info:
        bench_seeds.main(["--bundle", "liver_slice_cls", "--configs", "train.json", "--metric", "r.json:a",
                          "--work", str(tmp_path), *bad])  # fmt: skip
    assert exit_info.value.code == 2


def test_training_starts_over_unless_told_to_resume(tmp_path, monkeypatch):
    calls = []

    def fake_call(cmd, **kwargs):
        calls.append(cmd)
        (Path(cmd[cmd.index("--bundle_root") + 1]) / "r.json").write_text(json.dumps({"a": 1.0}))
        return 0

    monkeypatch.setattr(bench_seeds.subprocess, "call", fake_call)
    common = ["--bundle", "liver_slice_cls", "--configs", "train.json", "--metric", "r.json:a", "--seeds", "0",
              "--work", str(tmp_path)]  # fmt: skip
    assert bench_seeds.main(common) == 0 and bench_seeds.main([*common, "--resume"]) == 0
    assert [c[c.index("--resume") + 1] for c in calls] == ["False", "True"]
