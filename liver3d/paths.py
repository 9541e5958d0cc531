"""Where the shared presets (``labels.json``, ``windows.json``) and the MONAI bundles are found.

In a checkout (an editable install) they sit beside the package: ``configs/`` and ``bundles/``. An installed
wheel carries copies of both as package data, ``liver3d/_presets/`` and ``liver3d/_bundles/`` (``setup.py``
puts them there at build time), found with :mod:`importlib.resources`. ``LIVER3D_CONFIGS`` and
``LIVER3D_BUNDLES`` point at other folders (an override wins over both).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PRESETS_PACKAGE_DIR = "_presets"
BUNDLES_PACKAGE_DIR = "_bundles"


def _packaged(name: str) -> Path | None:
    """A data folder shipped inside the installed package, when there is one (a wheel install)."""
    folder = resources.files("liver3d").joinpath(name)
    return Path(str(folder)) if folder.is_dir() else None


def configs_dir() -> Path:
    override = os.environ.get("LIVER3D_CONFIGS")
    if override:
        return Path(override)
    return _packaged(PRESETS_PACKAGE_DIR) or REPO_ROOT / "configs"


def config_path(name: str) -> Path:
    path = configs_dir() / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: preset file not found (set LIVER3D_CONFIGS to the folder holding it)"
        )
    return path


def bundles_dir() -> Path:
    """The folder holding the MONAI bundles."""
    override = os.environ.get("LIVER3D_BUNDLES")
    if override:
        return Path(override)
    return _packaged(BUNDLES_PACKAGE_DIR) or REPO_ROOT / "bundles"


def bundle_names() -> list[str]:
    root = bundles_dir()
    return (
        sorted(p.name for p in root.iterdir() if (p / "configs" / "metadata.json").is_file())
        if root.is_dir()
        else []
    )


def bundle_dir(name: str) -> Path:
    """One bundle's folder (``configs/``, ``docs/``, ``models/``)."""
    path = bundles_dir() / name
    if not (path / "configs").is_dir():
        known = ", ".join(bundle_names()) or "none"
        raise FileNotFoundError(f"{path}: no such bundle (known: {known}; LIVER3D_BUNDLES sets the folder)")
    return path
