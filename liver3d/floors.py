"""The demo's floors (``configs/demo_floors.json``): what each demo training must reach, checked against the
result files the bundles write.

``step_results(out_dir, step)`` reads a step's tables and floors; ``DemoResults`` collects every step's checks
and writes ``demo_results.json`` (values, floors, which fell below) next to the demo's outputs, rewritten after
each step so an interrupted demo still says what it measured.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from liver3d.evaluation.lookup import MetricNotFound, read_metric
from liver3d.paths import config_path


@dataclass(frozen=True)
class Floor:
    step: str
    metric: str
    file: str
    key: str
    floor: float


@dataclass(frozen=True)
class FloorCheck:
    floor: Floor
    value: float | None
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return self.value is not None and self.value >= self.floor.floor

    def line(self) -> str:
        if self.value is None:
            return f"WARNING {self.floor.metric}: not measured ({self.problem})"
        if not self.passed:
            return (
                f"WARNING {self.floor.metric} {self.value:.3f} is below its floor {self.floor.floor:g} "
                "(configs/demo_floors.json): this run is worse than the demo promises"
            )
        return f"{self.floor.metric} {self.value:.3f} (floor {self.floor.floor:g}): ok"

    def record(self) -> dict:
        return {**asdict(self.floor), "value": self.value, "passed": self.passed, "problem": self.problem}


def load_steps(path: str | Path | None = None) -> dict[str, dict]:
    """{step: {"tables": [...], "floors": [Floor, ...]}} from ``demo_floors.json``."""
    data = json.loads(Path(path or config_path("demo_floors.json")).read_text(encoding="utf-8"))
    return {
        step: {
            "tables": list(spec.get("tables", [])),
            "floors": [Floor(step=step, **f) for f in spec.get("floors", [])],
        }
        for step, spec in data["steps"].items()
    }


def check_floor(out_dir: Path, floor: Floor) -> FloorCheck:
    try:
        return FloorCheck(floor, read_metric(Path(out_dir) / floor.file, floor.key))
    except MetricNotFound as err:
        return FloorCheck(floor, None, str(err))


@dataclass
class DemoResults:
    """Every floor check of one demo run; ``write`` puts them in ``out_dir/demo_results.json``."""

    out_dir: Path
    settings: dict = field(default_factory=dict)
    steps: dict[str, dict] = field(default_factory=load_steps)
    checks: list[FloorCheck] = field(default_factory=list)

    def step(self, name: str) -> tuple[list[Path], list[FloorCheck]]:
        """The step's existing table files and its floor checks (kept for ``write``)."""
        spec = self.steps[name]
        tables = [Path(self.out_dir) / t for t in spec["tables"] if (Path(self.out_dir) / t).is_file()]
        checks = [check_floor(self.out_dir, f) for f in spec["floors"]]
        self.checks = [c for c in self.checks if c.floor.step != name] + checks
        self.write()
        return tables, checks

    @property
    def below_floor(self) -> list[FloorCheck]:
        return [c for c in self.checks if not c.passed]

    def write(self) -> Path:
        from liver3d.io.atomic import write_json_atomic

        path = Path(self.out_dir) / "demo_results.json"
        record = {
            "settings": self.settings,
            "checks": [c.record() for c in self.checks],
            "below_floor": [c.floor.metric for c in self.below_floor],
        }
        write_json_atomic(path, record)
        return path


def summarize_runs(results_files: list[str | Path]) -> list[dict]:
    """Per floor metric over several demo runs (their ``demo_results.json``): every run's value, mean, SD,
    the floor and how many runs held it."""
    import statistics

    runs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in results_files]
    metrics: dict[str, dict] = {}
    for run in runs:
        for check in run["checks"]:
            row = metrics.setdefault(
                check["metric"], {"metric": check["metric"], "floor": check["floor"], "values": []}
            )
            row["values"].append(check["value"])
    rows = []
    for row in metrics.values():
        values = [v for v in row["values"] if v is not None]
        row["mean"] = statistics.fmean(values) if values else None
        row["sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        row["held"] = sum(v is not None and v >= row["floor"] for v in row["values"])
        row["runs"] = len(row["values"])
        rows.append(row)
    return rows


def format_runs_table(rows: list[dict], run_names: list[str]) -> str:
    """Markdown: one row per floor metric, mean ± SD, each run's value, the floor and runs holding it."""
    lines = [
        "| metric | mean ± SD | " + " | ".join(run_names) + " | floor | held |",
        "|---|---|" + "---|" * len(run_names) + "---|---|",
    ]
    for row in rows:
        values = " | ".join("-" if v is None else f"{v:.3f}" for v in row["values"])
        mean = "-" if row["mean"] is None else f"{row['mean']:.3f} ± {row['sd']:.3f}"
        lines.append(
            f"| {row['metric']} | {mean} | {values} | {row['floor']:g} | {row['held']} of {row['runs']} |"
        )
    return "\n".join(lines)
