"""Helpers for the bundle tests: run a config combination through MONAI's bundle API, or parse it."""

from __future__ import annotations

import csv
import pickletools
import zipfile
from pathlib import Path

from monai.bundle import ConfigParser
from monai.bundle import run as bundle_run


def run_bundle(configs: Path, names: tuple[str, ...], **overrides) -> None:
    bundle_run(
        config_file=[str(configs / n) for n in names], meta_file=str(configs / "metadata.json"), **overrides
    )


def parse_bundle(configs: Path, names: tuple[str, ...], **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config([str(configs / n) for n in names])
    parser.read_meta(str(configs / "metadata.json"))
    for key, value in overrides.items():
        parser[key] = value
    return parser


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def pickled_names(path: str | Path) -> set[str]:
    """Every string in the pickle of a ``torch.save`` file (module and callable names included), read with
    ``pickletools`` without unpickling: shows what a crafted checkpoint would call, running nothing."""
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        ops = pickletools.genops(archive.read(name))
        strings = [arg for _, arg, _ in ops if isinstance(arg, str)]
    # GLOBAL opcodes hold "module name" in one string; STACK_GLOBAL takes two separate strings.
    return {part for text in strings for part in (text, *text.split())}
