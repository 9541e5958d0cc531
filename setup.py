"""Build step that pyproject.toml cannot express: copy the presets and bundles into the wheel as package data.

``configs/*.json`` -> ``liver3d/_presets/`` and the tracked parts of ``bundles/<name>/`` (``configs/``,
``docs/``, ``models/README.md``, ``models/release/``) -> ``liver3d/_bundles/<name>/``; ``liver3d.paths`` finds
them with importlib.resources. Trained runs, evaluation outputs and caches in a checkout's bundle folders are
never copied. Everything else (metadata, dependencies, entry points) is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLE_PARTS = ("configs", "docs", "models/README.md", "models/release")


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(
            source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", ".*")
        )
    elif source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


class BuildWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads configs/ and bundles/ in place
            return
        package = Path(self.build_lib) / "liver3d"
        for preset in sorted((ROOT / "configs").glob("*.json")):
            _copy(preset, package / "_presets" / preset.name)
        for bundle in sorted(p for p in (ROOT / "bundles").iterdir() if (p / "configs").is_dir()):
            for part in BUNDLE_PARTS:
                _copy(bundle / part, package / "_bundles" / bundle.name / part)


setup(cmdclass={"build_py": BuildWithData})
