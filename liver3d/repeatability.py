"""Do two runs give the same answer? Every number in the JSON result files of two output folders, compared.

Issue 14's "two demos print the same numbers": the demo prints tables from the JSON files its bundles write, so
comparing those files number by number (metrics, lesion tables, classification reports, CAM summaries, the
floors) is a stronger check than comparing the printed lines. Timings, file paths and dates are not results
and are skipped (``IGNORED_KEYS``).

Exact repeats hold on one machine. Another CPU can take other vector kernels (AVX2 or AVX-512 paths in oneDNN
and MKL), whose float sums round differently, and a training that starts one ulp apart drifts: the demo records
:func:`machine` in ``demo_results.json`` and :func:`machine_differences` names what differs between two runs.

    python scripts/demo_repeat.py bench_out/demo_seeds/train_seed_0 bench_out/demo_seeds/train_seed_0_repeat
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# Leaf keys (or key fragments) that hold no result: wall-clock times, where files went, when they were made.
IGNORED_KEYS = (
    "seconds", "time", "elapsed", "date", "created", "path", "dir", "file", "sha256", "version", "machine",
)  # fmt: skip


def machine() -> dict:
    """What decides a CPU run's floating-point arithmetic: CPU model and vector extensions, torch, threads."""
    import torch

    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpu_vector_extensions": sorted(f for f in flags if f.startswith(("avx", "fma", "amx"))),
        "cpu_count_logical": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "architecture": platform.machine(),
    }


def machine_differences(run_a: str | Path, run_b: str | Path) -> list[str]:
    """``"<key>: <a> vs <b>"`` for each entry of the two demo runs' recorded :func:`machine` that differs
    (empty when both ran on the same kind of machine, or a run recorded none)."""
    records = []
    for run in (run_a, run_b):
        path = Path(run) / "demo_results.json"
        settings = json.loads(path.read_text(encoding="utf-8")).get("settings", {}) if path.is_file() else {}
        records.append(settings.get("machine"))
    if None in records:
        return []
    a, b = records
    return [f"{k}: {a.get(k)} vs {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def numbers(value, prefix: str = "") -> Iterator[tuple[str, float]]:
    """(dotted key, number) for every numeric leaf of a parsed JSON value, ignored keys skipped."""
    if isinstance(value, dict):
        for key, item in value.items():
            if any(word in str(key).lower() for word in IGNORED_KEYS):
                continue
            yield from numbers(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from numbers(item, f"{prefix}[{i}]")
    elif isinstance(value, bool):
        yield prefix, float(value)
    elif isinstance(value, (int, float)):
        yield prefix, float(value)


@dataclass
class RunComparison:
    """What two output folders share, and where their numbers differ (beyond ``tolerance``)."""

    files: int = 0
    values: int = 0
    differences: list[dict] = field(default_factory=list)
    only_in_one: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences and not self.only_in_one

    def summary(self) -> str:
        if self.identical:
            return f"identical: {self.values} numbers in {self.files} result files"
        worst = max((d["abs_diff"] for d in self.differences), default=0.0)
        return (
            f"{len(self.differences)} of {self.values} numbers differ in "
            f"{len({d['file'] for d in self.differences})} of {self.files} result files "
            f"(largest difference {worst:.4g}); {len(self.only_in_one)} files or keys in one run only"
        )


def _result_files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.json")) if "logs" not in p.parts}


def _same(a: float, b: float, tolerance: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tolerance


def compare_runs(run_a: str | Path, run_b: str | Path, tolerance: float = 0.0) -> RunComparison:
    """Every JSON file under ``run_a`` against the file of the same relative path under ``run_b``."""
    a_files, b_files = _result_files(Path(run_a)), _result_files(Path(run_b))
    out = RunComparison()
    out.only_in_one = sorted(set(a_files) ^ set(b_files))
    for name in sorted(set(a_files) & set(b_files)):
        a = dict(numbers(json.loads(a_files[name].read_text(encoding="utf-8"))))
        b = dict(numbers(json.loads(b_files[name].read_text(encoding="utf-8"))))
        out.files += 1
        out.only_in_one += [f"{name}:{k}" for k in sorted(set(a) ^ set(b))]
        for key in sorted(set(a) & set(b)):
            out.values += 1
            if not _same(a[key], b[key], tolerance):
                out.differences.append(
                    {"file": name, "key": key, "a": a[key], "b": b[key], "abs_diff": abs(a[key] - b[key])}
                )
    return out
