"""Train a bundle config under several seeds and print each metric's mean ± SD (and every run's value).

    python scripts/bench_seeds.py --bundle liver_slice_cls --configs train.json \\
        --then train.json,evaluate.json --metric eval/test/classification_report.json:balanced_accuracy \\
        --seeds 0 1 2 --set dataset_dir=demo_out/phantoms eval_dataset_dir=demo_out/phantoms_test max_epochs=12

Each seed runs ``python -m monai.bundle run`` in its own bundle root (``--work``/seed_<k>) with ``--seed k``
(the bundle's ``set_determinism`` seed: weights, augmentation, loader workers; the patient split keeps its own
``split_seed`` unless ``--set split_seed=...``), then each ``--then`` step in the same bundle root: a config list
(comma-separated, e.g. the evaluation of what the first run trained), optionally followed, in the same argument
and separated by spaces, by KEY=VALUE overrides for that step alone (after ``--set``'s, which they replace):

    --then "train.json,evaluate_cam.json liver_mask_margin_mm=0 cam_inside_liver=True"

``--no-train`` skips the ``--configs`` run and reads the checkpoints already in each seed's bundle root (e.g. a
trained model on a new held-out set). Training starts over unless ``--resume`` is given: then an interrupted
run continues from its newest checkpoint (the bundle's ``resume``); its remaining epochs draw their augmentation
anew from the seed, so a resumed run need not match one that ran through. Then it reads every ``--metric FILE:KEY`` (FILE relative to that
bundle root, KEY a dotted path into its JSON; list items by index, or by ``name=value`` / ``a=1&b=2`` to pick a row: ``liver3d.evaluation.lookup``).
Writes ``seeds.json`` and ``seeds.md`` to ``--work``; with ``--floor KEY=VALUE`` it reports which runs fall
below a floor and exits 1 when any does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from liver3d.evaluation.lookup import read_metric  # noqa: E402


def key_values(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE strings -> {KEY: VALUE}, in order; a later pair replaces an earlier one of the same key."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or key.startswith("-"):
            raise ValueError(f"{pair!r} is not KEY=VALUE")
        out[key] = value
    return out


def parse_step(text: str) -> tuple[list[str], dict[str, str]]:
    """One ``--then`` step: 'a.json,b.json [KEY=VALUE ...]' -> (config files, overrides for this step)."""
    tokens = text.split()
    if not tokens or "=" in tokens[0]:
        raise ValueError("a step starts with its config list (a.json,b.json)")
    return tokens[0].split(","), key_values(tokens[1:])


def summarize(values: dict[str, list[float]]) -> dict[str, dict]:
    out = {}
    for metric, xs in values.items():
        out[metric] = {
            "values": xs,
            "mean": statistics.fmean(xs),
            "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": min(xs),
            "max": max(xs),
        }
    return out


def markdown(summary: dict[str, dict], seeds: list[int], floors: dict[str, float]) -> str:
    lines = ["| metric | mean ± SD | " + " | ".join(f"seed {s}" for s in seeds) + " | floor |"]
    lines.append("|---|---|" + "---|" * len(seeds) + "---|")
    for metric, s in summary.items():
        cells = " | ".join(f"{v:.3f}" for v in s["values"])
        floor = floors.get(metric)
        lines.append(
            f"| {metric} | {s['mean']:.3f} ± {s['sd']:.3f} | {cells} | {'' if floor is None else floor} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", required=True)
    p.add_argument("--configs", nargs="+", required=True, help="config files of the bundle, in merge order")
    p.add_argument(
        "--metric", nargs="+", required=True, help="FILE:KEY, FILE relative to the run's bundle root"
    )
    p.add_argument(
        "--then",
        nargs="*",
        default=[],
        help="steps run after --configs in the same bundle root: 'a.json,b.json [KEY=VALUE ...]'",
    )
    p.add_argument(
        "--no-train",
        action="store_true",
        help="skip --configs: read the checkpoints already in each seed's root",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue each seed's training from its newest checkpoint instead of starting over",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--set", nargs="*", default=[], help="KEY=VALUE overrides for every run")
    p.add_argument(
        "--floor", nargs="*", default=[], help="KEY=VALUE: a metric's floor (split at the last '=')"
    )
    p.add_argument("--work", default=str(ROOT / "bench_out" / "seeds"))
    args = p.parse_args(argv)
    configs = ROOT / "bundles" / args.bundle / "configs"
    steps = [] if args.no_train else [(args.configs, {}, True)]
    for then in args.then:
        try:
            group, step_overrides = parse_step(then)
        except ValueError as error:
            p.error(f"--then {then!r}: {error}")
        steps.append((group, step_overrides, False))
    if not steps:
        p.error("--no-train needs at least one --then step")
    try:
        overrides = key_values(args.set)
    except ValueError as error:
        p.error(f"--set: {error}")
    floors = {}
    for floor in args.floor:  # KEY=VALUE; the key may hold '=' itself (a row picked by name=value)
        key, _, value = floor.rpartition("=")
        try:
            floors[key] = float(value)
        except ValueError:
            p.error(f"--floor {floor}: expected KEY=NUMBER")
    work = Path(args.work)
    values: dict[str, list[float]] = {m.split(":", 1)[1]: [] for m in args.metric}
    seconds = []
    for seed in args.seeds:
        root = work / f"seed_{seed}"
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with open(root / "run.log", "w", encoding="utf-8") as log:
            for group, step_overrides, trains in steps:
                files = "[" + ",".join(f"'{configs / c}'" for c in group) + "]"
                cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", files,
                       "--meta_file", str(configs / "metadata.json"), "--bundle_root", str(root),
                       "--seed", str(seed)]  # fmt: skip
                if trains:
                    cmd += ["--resume", str(args.resume)]
                for key, value in {**overrides, **step_overrides}.items():
                    cmd += [f"--{key}", value]
                log.flush()
                code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
                if code != 0:
                    break
        seconds.append(time.perf_counter() - start)
        if code != 0:
            print(f"seed {seed}: run failed (exit {code}); see {root / 'run.log'}", file=sys.stderr)
            return 1
        for metric in args.metric:
            file, key = metric.split(":", 1)
            values[key].append(read_metric(root / file, key))
        print(
            f"seed {seed}: "
            + ", ".join(f"{k} {v[-1]:.3f}" for k, v in values.items())
            + f" ({seconds[-1]:.0f} s)"
        )
    summary = summarize(values)
    table = markdown(summary, args.seeds, floors)
    below = {
        k: [s for s, v in zip(args.seeds, summary[k]["values"]) if v < f]
        for k, f in floors.items()
        if k in summary
    }
    record = {"bundle": args.bundle, "configs": args.configs, "then": args.then, "no_train": args.no_train,
              "seeds": args.seeds, "overrides": args.set,
              "summary": summary, "floors": floors, "below_floor": below, "seconds": seconds}  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    (work / "seeds.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    (work / "seeds.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    failing = {k: v for k, v in below.items() if v}
    if failing:
        print("below floor: " + "; ".join(f"{k} in seeds {v}" for k, v in failing.items()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
