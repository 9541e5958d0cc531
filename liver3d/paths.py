"""Where the shared presets in ``configs/`` are found.

``configs/`` sits beside the package in the repository (an editable install). Set ``LIVER3D_CONFIGS``
to use another folder of presets.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def configs_dir() -> Path:
    override = os.environ.get("LIVER3D_CONFIGS")
    return Path(override) if override else REPO_ROOT / "configs"


def config_path(name: str) -> Path:
    path = configs_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: preset file not found (set LIVER3D_CONFIGS to the folder holding it)"
        )
    return path


def bundles_dir() -> Path:
    """The folder holding the MONAI bundles (``LIVER3D_BUNDLES`` overrides it)."""
    override = os.environ.get("LIVER3D_BUNDLES")
    return Path(override) if override else REPO_ROOT / "bundles"


def bundle_dir(name: str) -> Path:
    """One bundle's folder (``configs/``, ``docs/``, ``models/``)."""
    path = bundles_dir() / name
    if not (path / "configs").is_dir():
        raise FileNotFoundError(f"{path}: no such bundle (set LIVER3D_BUNDLES to the folder holding it)")
    return path
