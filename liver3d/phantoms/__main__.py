"""``python -m liver3d.phantoms --out DIR --cases N --seed S [--shape X Y Z]``: write CT phantoms.

``--montage`` also writes ``DIR/montage_phases.png``: one row of phantoms per contrast phase (and the CTs given
with ``--real``) for a side-by-side look.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from liver3d.phantoms.anatomy import SCAN_RANGES
from liver3d.phantoms.contrast import Phase
from liver3d.phantoms.dataset import write_phantom_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m liver3d.phantoms",
        description="Write realistic abdominal CT phantoms (int16 HU NIfTI + liver/tumor labels + dataset.json).",
    )
    parser.add_argument("--out", required=True, help="output folder (imagesTr/, labelsTr/, dataset.json)")
    parser.add_argument("--cases", type=int, default=4, help="number of cases (default 4)")
    parser.add_argument(
        "--seed", type=int, default=0, help="dataset seed; case i of a seed is always the same"
    )
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        metavar=("X", "Y", "Z"),
        default=None,
        help="voxels per axis; default: a --matrix in-plane grid, drawn pixel size and slice thickness",
    )
    parser.add_argument(
        "--matrix", type=int, default=512, help="in-plane voxels without --shape (default 512)"
    )
    parser.add_argument("--phase", choices=[p.value for p in Phase], help="contrast phase (default: drawn)")
    parser.add_argument("--scan-range", choices=sorted(SCAN_RANGES), help="scan range (default: drawn)")
    parser.add_argument("--tumors", type=int, default=None, help="lesions per case (default: 0-8 at random)")
    parser.add_argument("--tissues", action="store_true", help="also write tissuesTr/ (tissue maps)")
    parser.add_argument(
        "--lesion-free-twins",
        action="store_true",
        help="after each case with lesions, also write its lesion-free twin (same patient and anatomy)",
    )
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    parser.add_argument("--montage", action="store_true", help="write montage_phases.png (a case per phase)")
    parser.add_argument("--real", nargs="*", default=[], help="real CT files / DICOM folders for the montage")
    args = parser.parse_args(argv)
    if args.shape is not None and min(args.shape) < 16:
        parser.error(f"--shape {args.shape}: every axis needs at least 16 voxels")
    if args.matrix < 32:
        parser.error(f"--matrix {args.matrix}: at least 32")
    start = time.perf_counter()
    path = write_phantom_dataset(
        args.out,
        args.cases,
        args.seed,
        tuple(args.shape) if args.shape else None,
        args.tumors,
        args.workers,
        matrix=args.matrix,
        phase=args.phase,
        scan_range=args.scan_range,
        tissues=args.tissues,
        twins=args.lesion_free_twins,
    )
    written = json.loads(Path(path).read_text())["numTraining"]
    twins = f" ({written - args.cases} lesion-free twins among them)" if args.lesion_free_twins else ""
    print(f"wrote {written} cases{twins} and {path} in {time.perf_counter() - start:.1f} s")
    if args.montage:
        from liver3d.phantoms.montage import write_phase_montage

        out = write_phase_montage(Path(args.out) / "montage_phases.png", args.seed, args.matrix, args.real)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
