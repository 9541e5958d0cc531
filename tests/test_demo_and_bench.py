import json
import subprocess
import sys
from pathlib import Path

import pytest

from liver3d.app import load_registry
from liver3d.demo import main as demo_main
from liver3d.evaluation.lookup import read_metric

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_end_to_end_on_tiny_phantoms(tmp_path, capsys):
    code = demo_main(
        [
            "--out",
            str(tmp_path),
            "--train-cases",
            "4",
            "--test-cases",
            "1",
            "--shape",
            "64",
            "64",
            "32",
            "--fine-pixdim",
            "5",
            "5",
            "6",
            "--roi-size",
            "32",
            "32",
            "16",
            "--epochs",
            "1",
            "--cls-epochs",
            "1",
            "--cls-image-size",
            "32",
            "--cls-input",
            "masked-liver",
            "--cls-cases",
            "4",
            "--cls-test-cases",
            "2",
            "--workers",
            "1",
            "--studies-2d",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "[9/9]" not in out  # no 2D study asked for
    assert "training: 4 cases" in out and "check: 0 errors" in out
    png = tmp_path / "montage.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a real figure, not an empty canvas
    assert "| liver | 1 |" in out and "| tumor | 1 |" in out
    eval_dir = tmp_path / "liver_tumor_seg" / "eval"
    assert list(eval_dir.glob("*_seg.nii.gz")) and list(eval_dir.glob("*.seg.nrrd"))
    assert (eval_dir / "metrics_per_case.csv").is_file()
    assert "balanced accuracy" in out  # the slice classifier's held-out report
    # the classifier is scored on its own held-out phantoms (seed 5000), not on the cascade's one case
    assert "classifier held-out: 2 cases" in out and "seed 5000" in out
    assert (
        "| liver | volume | 2 (2) |" in out and "| liver | slice |" in out
    )  # the CAM evaluator table: n (cases)
    cams = sorted(
        p.name for p in (tmp_path / "liver_slice_cls" / "eval" / "cam" / "cams").glob("*_cam_liver.nii.gz")
    )
    assert cams == [f"liver_phantom_s5000_00{i}_cam_liver.nii.gz" for i in (0, 1)]
    predictions = (tmp_path / "liver_slice_cls" / "eval" / "test" / "predictions.csv").read_text()
    assert "liver_phantom_s5000_001" in predictions and "s1000" not in predictions
    cam_settings = json.loads(
        (tmp_path / "liver_slice_cls" / "eval" / "cam" / "cam_summary.json").read_text()
    )
    assert (cam_settings["settings"]["method"], cam_settings["settings"]["target_layer"]) == (
        "layercam",
        "layer3",
    )
    assert models_overrides(tmp_path)["context"] == 3  # the 2.5D classifier, also what the viewer runs
    # --cls-input masked-liver: the classifier sees the liver alone (ROI, the rest blanked); the viewer asks for a mask
    assert models_overrides(tmp_path)["liver_roi"] is True
    assert models_overrides(tmp_path)["mask_outside_liver"] is True
    # and the classifier learns from the training phantoms and their lesion-free twins
    assert "training with twins: " in out and "--lesion-free-twins" in out
    twins = json.loads((tmp_path / "phantoms_twins" / "dataset.json").read_text())["training"]
    assert any("twin_of" in e for e in twins) and sum("twin_of" not in e for e in twins) == 4
    assert "structured report" in out and "Liver volume" in out  # the demo ends with a report
    assert list(eval_dir.glob("*_report/report.json"))
    models = {e.task: e for e in load_registry(tmp_path / "app_models.json")}  # what the viewer offers
    assert set(models) == {"segmentation", "slice_classifier"}
    assert models["segmentation"].overrides["roi_size"] == [32, 32, 16] and not models["segmentation"].missing
    # Every floor of the steps that ran is read from the result files and checked: one epoch is below them.
    results = json.loads((tmp_path / "demo_results.json").read_text())
    steps = {c["step"] for c in results["checks"]}
    assert steps == {"segmentation", "slice_classifier", "slice_classifier_cam"}
    assert all(c["value"] is not None for c in results["checks"])
    liver = next(c for c in results["checks"] if c["metric"] == "held-out liver Dice")
    assert liver["value"] == pytest.approx(
        read_metric(eval_dir / "metrics_summary.json", "structure=liver.dice_mean")
    )
    assert results["below_floor"] and "is below its floor" in out and "floors: " in out
    assert results["settings"]["train_seed"] == 0


def models_overrides(out):
    return next(e for e in load_registry(out / "app_models.json") if e.task == "slice_classifier").overrides


@pytest.mark.slow
def test_demo_runs_a_2d_study(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--only-2d", "--studies-2d", "multiorgan_8class", "--epochs-2d", "1"]
    assert demo_main([*args, "--patients-2d", "3", "--image-size-2d", "48"]) == 0
    out = capsys.readouterr().out
    assert "[9/9] multiorgan_8class" in out and "[1/9]" not in out
    assert "| kidney_tumor |" in out  # the held-out confusion report
    assert "Grad-CAM hot regions of block3" in out
    assert "8-class multi-organ balanced accuracy (chance 0.125)" in out  # its floor line
    study = tmp_path / "image_cls_2d" / "eval" / "multiorgan_8class"
    assert (study / "test" / "confusion_matrix.png").is_file() and (
        study / "cam" / "cam_regions.json"
    ).is_file()
    # the trained model is offered to the viewer, with the settings it was trained with
    (entry,) = load_registry(tmp_path / "app_models.json")
    assert entry.task == "image2d" and entry.overrides["image_size"] == 48 and not entry.missing


def test_demo_can_stop_before_training(tmp_path, capsys):
    code = demo_main(
        [
            "--out",
            str(tmp_path),
            "--train-cases",
            "3",
            "--test-cases",
            "1",
            "--shape",
            "48",
            "48",
            "24",
            "--workers",
            "1",
            "--skip-training",
        ]
    )
    assert code == 0 and (tmp_path / "montage.png").is_file() and (tmp_path / "split.json").is_file()
    assert not (tmp_path / "liver_tumor_seg").exists()


def _script_output(name: str, *args: str) -> str:
    """Run ``scripts/<name>`` with a small volume; return what it printed."""
    command = [
        sys.executable,
        str(ROOT / "scripts" / name),
        "--shape",
        "64",
        "64",
        "32",
        "--repeats",
        "1",
        *args,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, encoding="utf-8", timeout=600, check=True
    ).stdout


@pytest.mark.slow
def test_bench_io_prints_both_timings_and_the_ratio():
    out = _script_output("bench_io.py")
    assert "nibabel load" in out and "ratio liver3d / nibabel" in out


@pytest.mark.slow
def test_bench_inference_prints_its_table():
    out = _script_output("bench_inference.py", "--roi-size", "32", "32", "16", "--pixdim", "5", "5", "6")
    assert "| off |" in out and "ratio bundle/bare" in out


@pytest.mark.slow
def test_bench_train_step_times_both_networks_from_the_configs(tmp_path):
    command = [sys.executable, str(ROOT / "scripts" / "bench_train_step.py"), "--roi-size", "32", "32", "32",
               "--batch", "2", "--repeats", "1", "--out", str(tmp_path)]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True).stdout
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["ratio"] for r in rows][0] == 1.0 and len(rows) == 2
    assert all(r["median_s_per_step"] > 0 and r["parameters_m"] > 1 for r in rows)
    assert "| UNet (train.json) |" in out and "ratio to UNet" in out


def test_the_liver3d_command_dispatches_to_each_tool(capsys, phantom_datalist):
    from liver3d.cli import COMMANDS
    from liver3d.cli import main as cli_main

    assert cli_main([]) == 0 and "serve" in capsys.readouterr().out
    assert cli_main(["frobnicate"]) == 2 and "unknown command" in capsys.readouterr().err
    assert cli_main(["check", str(phantom_datalist), "--header-only"]) == 0
    for command in COMMANDS:  # every module named there exists and has a main(argv)
        import importlib

        assert callable(importlib.import_module(COMMANDS[command][0]).main)


def test_the_classifier_inputs_are_train_json_overrides_described_with_its_values():
    from liver3d.demo import classifier_inputs

    configs = Path(__file__).resolve().parents[1] / "bundles" / "liver_slice_cls" / "configs"
    train = json.loads((configs / "train.json").read_text(encoding="utf-8"))
    inputs = classifier_inputs()
    assert set(inputs) == {"whole-slices", "liver-roi", "masked-liver"}
    for seen in inputs.values():
        assert set(seen.overrides) <= set(train) and "{" not in seen.description
    assert f"{train['liver_mask_margin_mm']} mm" in inputs["masked-liver"].description
    assert inputs["masked-liver"].overrides == {"liver_roi": True, "mask_outside_liver": True}
