import subprocess
import sys
from pathlib import Path

import pytest

from liver3d.demo import main as demo_main

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
            "--workers",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "training: 4 cases" in out and "check: 0 errors" in out
    png = tmp_path / "montage.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a real figure, not an empty canvas
    assert "| liver | 1 |" in out and "| tumor | 1 |" in out
    eval_dir = tmp_path / "liver_tumor_seg" / "eval"
    assert list(eval_dir.glob("*_seg.nii.gz")) and list(eval_dir.glob("*.seg.nrrd"))
    assert (eval_dir / "metrics_per_case.csv").is_file()


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


@pytest.mark.slow
def test_bench_io_prints_both_timings_and_the_ratio():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_io.py"),
            "--shape",
            "64",
            "64",
            "32",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "nibabel load" in result.stdout and "ratio liver3d / nibabel" in result.stdout


@pytest.mark.slow
def test_bench_inference_prints_its_table():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_inference.py"),
            "--shape",
            "64",
            "64",
            "32",
            "--repeats",
            "1",
            "--roi-size",
            "32",
            "32",
            "16",
            "--pixdim",
            "5",
            "5",
            "6",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert "| off |" in result.stdout and "ratio bundle/bare" in result.stdout
