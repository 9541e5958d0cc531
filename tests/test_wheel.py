"""A wheel built from the checkout works outside it: presets and bundles are package data, the commands run.

Builds ``pip wheel .`` (no dependencies, no build isolation: offline), installs it with ``--target`` into a
temporary folder and runs, from a folder outside the checkout with only that folder on ``PYTHONPATH`` (the
dependencies come from this environment), ``liver3d check``, ``liver3d segment`` and ``monai.bundle run`` of
a bundle exported with ``liver3d bundle export``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(args, cwd, env, timeout=600):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _source_copy(target: Path) -> Path:
    """The files a clone of the checkout has (git's tracked files; without git, a filtered copy)."""
    import shutil

    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        skip = shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", "demo_out", "bench_out", "release_data",
            "test-artifacts", "stage1", "stage2", "eval", "outputs",
        )  # fmt: skip
        shutil.copytree(ROOT, target, ignore=skip)
        return target
    for name in listed:
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    source = _source_copy(tmp / "src")  # the build writes its build/ folder there, not into the checkout
    dist = tmp / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q"]
    _run([*pip_wheel, "-w", str(dist)], tmp, os.environ)
    (wheel,) = dist.glob("liver3d-*.whl")
    site = tmp / "site"
    _run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        tmp,
        os.environ,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVER3D_")}
    env["PYTHONPATH"] = str(site)
    work = tmp / "work"
    work.mkdir()
    return wheel, site, work, env


def test_wheel_holds_presets_bundles_and_weights_but_no_runs(installed):
    wheel, *_ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "liver3d/_presets/labels.json",
        "liver3d/_presets/windows.json",
        "liver3d/_bundles/liver_tumor_seg/configs/inference.json",
        "liver3d/_bundles/liver_tumor_seg/configs/metadata.json",
        "liver3d/_bundles/liver_tumor_seg/models/release/stage1.pt",
        "liver3d/_bundles/liver_tumor_seg/models/release/manifest.json",
        "liver3d/_bundles/liver_slice_cls/configs/train.json",
    ):
        assert required in names, required
    assert not any("/models/stage1/" in n or "/eval/" in n for n in names)


def test_installed_package_finds_its_data_outside_the_checkout(installed):
    _, site, work, env = installed
    code = "import liver3d, liver3d.paths as p, liver3d.labels as l; print(liver3d.__file__); print(p.configs_dir()); print(p.bundles_dir()); print(l.load_label_table().names)"
    lines = _run([sys.executable, "-c", code], work, env).splitlines()
    assert all(line.startswith(str(site)) for line in lines[:3]), lines
    assert lines[3] == "('background', 'liver', 'tumor')"


def test_check_segment_and_bundle_run_from_the_wheel(installed):
    _, site, work, env = installed
    cli = [sys.executable, "-m", "liver3d.cli"]
    _run(
        [*cli, "phantoms", "--out", "ph", "--cases", "1", "--seed", "3", "--shape", "48", "48", "24"],
        work,
        env,
    )
    assert "0 errors" in _run([*cli, "check", "ph"], work, env)
    (image,) = (work / "ph" / "imagesTr").glob("*.nii.gz")
    _run([*cli, "segment", str(image), "-o", "seg", "--quiet"], work, env)
    case = image.name[: -len(".nii.gz")]
    assert (work / "seg" / f"{case}_seg.nii.gz").is_file() and (
        work / "seg" / f"{case}_result.json"
    ).is_file()
    printed = _run([*cli, "bundle", "export", "liver_tumor_seg", "zoo"], work, env)
    assert "python -m monai.bundle run" in printed
    zoo = work / "zoo"
    _run(
        [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(zoo / "configs" / "inference.json"),
         "--meta_file", str(zoo / "configs" / "metadata.json"), "--bundle_root", str(zoo), "--input", str(image),
         "--output_dir", str(work / "zoo_out"), "--save_slicer", "False"],
        work, env,
    )  # fmt: skip
    assert (work / "zoo_out" / f"{case}_seg.nii.gz").is_file()
