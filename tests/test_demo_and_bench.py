import subprocess
import sys
from pathlib import Path

import pytest

from liver3d.demo import main as demo_main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_generates_checks_splits_and_draws(tmp_path, capsys):
    code = demo_main(["--out", str(tmp_path), "--cases", "3", "--shape", "64", "64", "32", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "checked 3 cases: 0 errors" in out
    png = tmp_path / "montage.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a real figure, not an empty canvas
    assert (tmp_path / "split.json").is_file()


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
