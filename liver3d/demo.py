"""``python -m liver3d.demo --out DIR``: the main job on data the package makes itself.

Generates CT phantoms, checks them with the dataset checker, makes a patient-level split and writes a
PNG montage of axial slices with the liver/tumor labels drawn over them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from liver3d.check import run_check
from liver3d.data.datalist import load_datalist
from liver3d.data.splits import patients, split_by_patient
from liver3d.phantoms.dataset import write_phantom_dataset
from liver3d.split import write_split
from liver3d.viz.montage import save_montage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liver3d.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_out", help="output folder")
    parser.add_argument("--cases", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=None,
        metavar=("X", "Y", "Z"),
        help="phantom grid; default: full 512x512 clinical matrices",
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    out = Path(args.out)
    start = time.perf_counter()

    print(f"[1/4] generating {args.cases} CT phantoms (seed {args.seed}) in {out / 'phantoms'}")
    datalist = write_phantom_dataset(
        out / "phantoms",
        args.cases,
        args.seed,
        tuple(args.shape) if args.shape else None,
        workers=args.workers,
    )
    entries = load_datalist(datalist)
    for e in entries:
        print(
            f"      {Path(e['image']).name}: {e['orientation']} {e['shape']} voxels of "
            f"{' x '.join(f'{s:.2f}' for s in e['spacing_mm'])} mm, {len(e['tumors'])} tumors"
        )

    print("[2/4] checking the dataset (python -m liver3d.check)")
    n_cases, findings = run_check(str(datalist))
    for f in findings:
        print(f"      {f}")
    errors = sum(f.severity == "ERROR" for f in findings)
    print(f"      checked {n_cases} cases: {errors} errors, {len(findings) - errors} warnings")

    print("[3/4] patient-level split")
    parts = split_by_patient(entries, val_fraction=0.34, test_fraction=0.0, seed=args.seed)
    split_path = write_split(parts, out / "split.json", str(datalist))
    print(f"      {split_path}: " + " / ".join(f"{len(patients(v))} {k}" for k, v in parts.items()))

    print("[4/4] montage of axial slices with labels")
    shown = entries[: min(3, len(entries))]
    png = save_montage(
        [(e["image"], e["label"]) for e in shown], out / "montage.png", titles=[e["case_id"] for e in shown]
    )
    print(f"      {png}")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
