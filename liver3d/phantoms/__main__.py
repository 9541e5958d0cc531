"""``python -m liver3d.phantoms --out DIR --cases N --seed S [--shape X Y Z]``: write CT phantoms."""

from __future__ import annotations

import argparse
import sys
import time

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
        help="voxels per axis; default: 512x512 matrix, 0.6-0.9 mm pixels, 1-5 mm slices",
    )
    parser.add_argument("--tumors", type=int, default=None, help="tumors per case (default: 0-6 at random)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes")
    args = parser.parse_args(argv)
    if args.shape is not None and min(args.shape) < 16:
        parser.error(f"--shape {args.shape}: every axis needs at least 16 voxels")
    start = time.perf_counter()
    path = write_phantom_dataset(
        args.out, args.cases, args.seed, tuple(args.shape) if args.shape else None, args.tumors, args.workers
    )
    print(f"wrote {args.cases} cases and {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
