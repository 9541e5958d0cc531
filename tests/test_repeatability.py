import json
import subprocess
import sys
from pathlib import Path

from liver3d.repeatability import compare_runs, numbers

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")


def test_numbers_skip_timings_and_paths_and_keep_nested_results():
    record = {
        "dice": 0.9,
        "seconds": 12.0,
        "rows": [{"iou": 0.5, "model_path": "x"}],
        "ok": True,
        "name": "a",
    }
    assert dict(numbers(record)) == {"dice": 0.9, "rows[0].iou": 0.5, "ok": 1.0}


def test_two_runs_compared_number_by_number(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for run, tumor, seconds in ((a, 0.40, 3.0), (b, 0.37, 9.0)):
        write(run / "seg" / "metrics.json", {"liver": 0.92, "tumor": tumor, "seconds": seconds})
        write(run / "cls" / "report.json", {"balanced_accuracy": 0.83, "nan": float("nan")})
        write(run / "logs" / "ignored.json", {"x": seconds})
    write(a / "extra.json", {"x": 1})
    result = compare_runs(a, b)
    assert result.files == 2 and result.values == 4  # liver, tumor, balanced_accuracy, nan (NaN == NaN)
    assert [(d["file"], d["key"]) for d in result.differences] == [("seg/metrics.json", "tumor")]
    assert result.only_in_one == ["extra.json"] and not result.identical
    assert compare_runs(a, b, tolerance=0.05).differences == []
    (a / "extra.json").unlink()
    write(b / "seg" / "metrics.json", {"liver": 0.92, "tumor": 0.40, "seconds": 1.0})
    same = compare_runs(a, b)
    assert same.identical and same.summary() == "identical: 4 numbers in 2 result files"


def test_the_script_exits_1_on_a_difference_and_names_it(tmp_path):
    write(tmp_path / "a" / "m.json", {"dice": 0.9})
    write(tmp_path / "b" / "m.json", {"dice": 0.8})
    script = ROOT / "scripts" / "demo_repeat.py"
    run = subprocess.run(
        [sys.executable, script, tmp_path / "a", tmp_path / "b"], capture_output=True, text=True
    )
    assert run.returncode == 1 and "m.json  dice: 0.9 vs 0.8" in run.stdout
    missing = subprocess.run(
        [sys.executable, script, tmp_path / "a", tmp_path / "nope"], capture_output=True, text=True
    )
    assert missing.returncode == 1 and "ERROR" in missing.stderr and "nope" in missing.stderr


def test_machine_is_recorded_and_a_different_one_is_named(tmp_path):
    from liver3d.repeatability import machine, machine_differences

    here = machine()
    assert here["torch"] and here["torch_threads"] >= 1 and isinstance(here["cpu_vector_extensions"], list)
    other = {**here, "cpu_vector_extensions": [*here["cpu_vector_extensions"], "avx512f"]}
    for name, record in (("a", here), ("b", other), ("c", here)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "demo_results.json").write_text(json.dumps({"settings": {"machine": record}}))
    assert machine_differences(tmp_path / "a", tmp_path / "c") == []
    (difference,) = machine_differences(tmp_path / "a", tmp_path / "b")
    assert difference.startswith("cpu_vector_extensions:") and "avx512f" in difference
    assert compare_runs(tmp_path / "a", tmp_path / "b").identical  # the record is not a result
