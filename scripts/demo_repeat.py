"""Two demo runs of the same seeds, number by number: are they the same?

    python -m liver3d.demo --out bench_out/demo_seeds/train_seed_0 --train-seed 0
    python -m liver3d.demo --out bench_out/demo_seeds/train_seed_0_repeat --train-seed 0
    python scripts/demo_repeat.py bench_out/demo_seeds/train_seed_0 bench_out/demo_seeds/train_seed_0_repeat

Compares every number in the JSON result files of both folders (``liver3d.repeatability``), prints a summary
and the differing values, writes ``--out`` (JSON). Exits 1 when any number differs beyond ``--tolerance``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from liver3d.repeatability import compare_runs, machine_differences  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument(
        "--tolerance", type=float, default=0.0, help="largest absolute difference that counts as equal"
    )
    p.add_argument("--out", default=None, help="JSON file for the comparison (default: none)")
    p.add_argument("--show", type=int, default=20, help="differences to print")
    args = p.parse_args(argv)
    for run in (args.run_a, args.run_b):
        if not Path(run).is_dir():
            print(f"ERROR {run}: not a folder of demo outputs", file=sys.stderr)
            return 1
    result = compare_runs(args.run_a, args.run_b, args.tolerance)
    print(result.summary())
    machines = machine_differences(args.run_a, args.run_b)
    if machines:
        print(
            "  the runs were made on different machines (exact repeats hold on one): " + "; ".join(machines)
        )
    for d in sorted(result.differences, key=lambda d: -d["abs_diff"])[: args.show]:
        print(f"  {d['file']}  {d['key']}: {d['a']:.6g} vs {d['b']:.6g}")
    for name in result.only_in_one[: args.show]:
        print(f"  only in one run: {name}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        record = {
            "run_a": args.run_a,
            "run_b": args.run_b,
            "tolerance": args.tolerance,
            "summary": result.summary(),
            "machine_differences": machines,
        }
        record.update(files=result.files, values=result.values, differences=result.differences)
        record["only_in_one"] = result.only_in_one
        Path(args.out).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return 0 if result.identical else 1


if __name__ == "__main__":
    sys.exit(main())
