"""Helpers for the bundle tests: run a config combination through MONAI's bundle API, or parse it."""

from __future__ import annotations

import csv
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
