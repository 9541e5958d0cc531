"""``liver3d bundle path NAME`` / ``liver3d bundle export NAME DIR`` / ``liver3d bundle list``: the MONAI bundles
that ship with the package, reachable from an installed wheel as from a checkout.

``path`` prints the bundle's folder (``configs/``, ``docs/``, ``models/``). ``export`` copies it to DIR in the
MONAI model-zoo layout (``configs/`` with ``metadata.json`` and ``inference.json``, ``models/`` with the shipped
weights and their manifest, ``docs/README.md``, the package's ``LICENSE`` notice) and prints the
``monai.bundle run`` command for it. Only what the package ships is copied (no trained runs or outputs).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from liver3d.errors import InputError
from liver3d.paths import bundle_dir, bundle_names

PARTS = ("configs", "docs", "models/README.md", "models/release")


class BundleError(InputError):
    """A bundle name or export folder that cannot be used."""


def find_bundle(name: str) -> Path:
    try:
        return bundle_dir(name)
    except FileNotFoundError as err:
        raise BundleError(name, str(err).split(": ", 1)[1]) from err


def export_bundle(name: str, out_dir: str | Path) -> Path:
    """Copy bundle ``name`` to ``out_dir`` (which must not exist or be empty) in the model-zoo layout."""
    source, out_dir = find_bundle(name), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BundleError(out_dir, "exists and is not empty; give a new folder")
    partial = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        for part in PARTS:
            src, dst = source / part, partial / part
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", ".*"))
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        (partial / "LICENSE").write_text(
            "Apache License 2.0: see https://www.apache.org/licenses/LICENSE-2.0 (liver3d; weights: see models/README.md)\n",
            encoding="utf-8",
        )
        if out_dir.exists():
            out_dir.rmdir()
        partial.rename(out_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out_dir


def run_command(folder: Path) -> str:
    configs = folder / "configs"
    if not (configs / "inference.json").is_file():
        names = ", ".join(sorted(p.name for p in configs.glob("*.json") if p.name != "metadata.json"))
        return (
            f"python -m monai.bundle run --config_file \"['{configs}/train.json', ...]\" "
            f"--meta_file {configs / 'metadata.json'} --bundle_root {folder}   (configs: {names})"
        )
    return (
        f"python -m monai.bundle run --config_file {configs / 'inference.json'} "
        f"--meta_file {configs / 'metadata.json'} --bundle_root {folder} --input CT.nii.gz --output_dir out/"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liver3d bundle", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="the bundles that ship with the package")
    path = sub.add_parser("path", help="print a bundle's folder")
    path.add_argument("name")
    export = sub.add_parser("export", help="copy a bundle to DIR in the MONAI model-zoo layout")
    export.add_argument("name")
    export.add_argument("dir")
    args = parser.parse_args(argv)
    try:
        if args.action == "list":
            print("\n".join(bundle_names()))
        elif args.action == "path":
            print(find_bundle(args.name))
        else:
            folder = export_bundle(args.name, args.dir)
            print(f"exported {args.name} to {folder}\nrun it with:\n  {run_command(folder.resolve())}")
    except InputError as err:
        print(f"ERROR {err.path}: {err.problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
