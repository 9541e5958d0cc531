"""scripts/screen_slice_cls.sh: E's settings with the screen's overrides replacing them, and its refusals."""

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "screen_slice_cls.sh"


def _run(*args, **env):
    return subprocess.run(
        ["sh", str(SCRIPT), *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )


def test_overrides_replace_e_settings_once_and_every_step_gets_them(tmp_path):
    """With PY=echo the script writes the bundle commands it would run into its logs."""
    work = tmp_path / "screen"
    done = _run(str(work), "train_dir", "eval_dir", "3", "max_epochs=12", "learning_rate=0.001", PY="echo")
    assert done.returncode == 0, done.stderr
    for log in ("train.log", "read_test.log", "read_cam.log"):
        command = (work / log).read_text()
        assert command.count("--max_epochs") == 1 and "--max_epochs 12" in command
        assert (
            "--learning_rate 0.001" in command and "0.0003" not in command and "--image_size 128" in command
        )
        assert "--seed 3" in command and "--dataset_dir train_dir --eval_dataset_dir eval_dir" in command
    assert "--cam_inside_liver True" in (work / "read_cam.log").read_text()


def test_usage_and_a_read_only_run_without_a_checkpoint_are_refused(tmp_path):
    assert _run("only", "two").returncode == 2
    bare = _run(str(tmp_path / "w"), "t", "e", "0", "--resume", "False", PY="echo")
    assert bare.returncode == 2 and "'--resume' is not a key=value setting" in bare.stdout
    assert not (tmp_path / "w").exists()
    done = _run(str(tmp_path / "empty"), "t", "e", "0", READ_ONLY="1", PY="echo")
    assert done.returncode == 1 and "no " in done.stdout and "model_final.pt" in done.stdout
    assert not (tmp_path / "empty" / "train.log").exists()
