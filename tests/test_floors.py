"""The demo's floors: declared in configs/demo_floors.json, checked against result files."""

from __future__ import annotations

import json

from liver3d.floors import DemoResults, Floor, FloorCheck, check_floor, load_steps


def test_the_shipped_floors_cover_every_demo_training():
    steps = load_steps()
    assert set(steps) == {
        "segmentation",
        "slice_classifier",
        "slice_classifier_cam",
        "xray_pneumonia",
        "liver_disease_4class",
        "multiorgan_8class",
    }
    floors = {f.metric: f.floor for s in steps.values() for f in s["floors"]}
    assert floors["X-ray pneumonia test AUC"] == 0.9  # the floors
    assert floors["slice classifier balanced accuracy"] == 0.8
    assert floors["tumor CAM pseudo-mask IoU per slice (seed 000, Grad-CAM: 0.140)"] == 0.14


def test_a_check_passes_fails_or_says_what_is_missing(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "report.json").write_text(json.dumps({"binary": {"auc": 0.85}}))
    floor = Floor("xray", "test AUC", "eval/report.json", "binary.auc", 0.9)
    low = check_floor(tmp_path, floor)
    assert low.value == 0.85 and not low.passed
    assert low.line().startswith("WARNING test AUC 0.850 is below its floor 0.9")
    ok = FloorCheck(floor, 0.95)
    assert ok.passed and ok.line() == "test AUC 0.950 (floor 0.9): ok"
    missing = check_floor(tmp_path, Floor("xray", "AUC", "nowhere.json", "auc", 0.9))
    assert not missing.passed and "not measured" in missing.line() and "nowhere.json" in missing.line()


def test_demo_results_are_rewritten_after_each_step(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"a": 0.5, "b": 0.9}))
    (tmp_path / "t.md").write_text("| table |")
    steps = {
        "one": {"tables": ["t.md", "absent.md"], "floors": [Floor("one", "A", "r.json", "a", 0.6)]},
        "two": {"tables": [], "floors": [Floor("two", "B", "r.json", "b", 0.8)]},
    }
    results = DemoResults(tmp_path, settings={"train_seed": 1}, steps=steps)
    tables, checks = results.step("one")
    assert tables == [tmp_path / "t.md"] and [c.passed for c in checks] == [False]
    written = json.loads((tmp_path / "demo_results.json").read_text())
    assert written["below_floor"] == ["A"] and written["settings"] == {"train_seed": 1}
    results.step("two")
    results.step("one")  # a step run again replaces its checks
    written = json.loads((tmp_path / "demo_results.json").read_text())
    assert [c["metric"] for c in written["checks"]] == ["B", "A"]
    assert [c["passed"] for c in written["checks"]] == [True, False]


def test_runs_summary_gives_mean_sd_and_how_many_held(tmp_path):
    from liver3d.floors import format_runs_table, summarize_runs

    files = []
    for seed, value in enumerate([0.7, 0.9, 0.95]):
        steps = {"one": {"tables": [], "floors": [Floor("one", "AUC", "r.json", "auc", 0.8)]}}
        run = tmp_path / f"seed{seed}"
        run.mkdir()
        (run / "r.json").write_text(json.dumps({"auc": value}))
        results = DemoResults(run, settings={"train_seed": seed}, steps=steps)
        results.step("one")
        files.append(run / "demo_results.json")
    (row,) = summarize_runs(files)
    assert row["values"] == [0.7, 0.9, 0.95] and row["held"] == 2 and row["runs"] == 3
    assert abs(row["mean"] - 0.85) < 1e-9 and abs(row["sd"] - 0.1322875656) < 1e-6
    table = format_runs_table([row], ["s0", "s1", "s2"])
    assert "| AUC | 0.850 ± 0.132 | 0.700 | 0.900 | 0.950 | 0.8 | 2 of 3 |" in table
