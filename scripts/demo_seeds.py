"""The demo's floors over several runs: mean ± SD of each floor metric and how many runs held it.

    for s in 0 1 2; do python -m liver3d.demo --out bench_out/demo_seeds/train_seed_$s --train-seed $s; done
    python scripts/demo_seeds.py bench_out/demo_seeds/train_seed_0 bench_out/demo_seeds/train_seed_1 \\
        bench_out/demo_seeds/train_seed_2

Reads each folder's ``demo_results.json`` (written by the demo), prints the table and writes ``--out``
(default ``bench_out/demo_seeds/seeds.md`` and ``.json``). Exits 1 when a floor failed in any run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from liver3d.floors import format_runs_table, summarize_runs  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="demo output folders (each with demo_results.json)")
    p.add_argument("--out", default=str(ROOT / "bench_out" / "demo_seeds" / "seeds"))
    args = p.parse_args(argv)
    files = [Path(r) / "demo_results.json" for r in args.runs]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        for f in missing:
            print(f"ERROR {f}: demo results not found (run the demo with --out there)", file=sys.stderr)
        return 1
    settings = [json.loads(f.read_text(encoding="utf-8"))["settings"] for f in files]
    names = [f"train seed {s.get('train_seed')}" for s in settings]
    rows = summarize_runs(files)
    table = format_runs_table(rows, names)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(
        json.dumps({"runs": [str(r) for r in args.runs], "settings": settings, "rows": rows}, indent=2),
        encoding="utf-8",
    )
    print(table)
    return 0 if all(r["held"] == r["runs"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
