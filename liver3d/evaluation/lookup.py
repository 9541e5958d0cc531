"""One number out of a result file: ``read_metric(path, "structure=liver.dice_mean")``.

A key is a dotted path into the JSON. On a list, a part is an index (``3``) or picks the row whose fields
match (``structure=tumor`` or ``structure=tumor&protocol=slice``). The demo's floors and
``scripts/bench_seeds.py`` read results this way, from the files the bundles write, never from their logs.
"""

from __future__ import annotations

import json
from pathlib import Path


class MetricNotFound(LookupError):
    """The file is missing or the key does not lead to a number."""


def _pick(rows: list, part: str):
    if "=" not in part:
        return rows[int(part)]
    wanted = dict(pair.split("=", 1) for pair in part.split("&"))
    for row in rows:
        if isinstance(row, dict) and all(str(row.get(k)) == v for k, v in wanted.items()):
            return row
    raise KeyError(part)


def read_metric(path: str | Path, key: str) -> float:
    """The number at ``key`` (see the module docstring) in the JSON file ``path``."""
    path = Path(path)
    if not path.is_file():
        raise MetricNotFound(f"{path}: result file not found")
    value = json.loads(path.read_text(encoding="utf-8"))
    try:
        for part in key.split("."):
            value = _pick(value, part) if isinstance(value, list) else value[part]
        return float(value)
    except (KeyError, IndexError, ValueError, TypeError) as err:
        raise MetricNotFound(f"{path}: no number at {key!r} ({err.__class__.__name__}: {err})") from None
