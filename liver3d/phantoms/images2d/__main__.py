"""``python -m liver3d.phantoms.images2d --study NAME --out DIR``: write a labelled 2D image set."""

from __future__ import annotations

import argparse
import sys
import time

from liver3d.phantoms.images2d.studies import STUDIES, write_study_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m liver3d.phantoms.images2d",
        description="Write labelled 2D phantom images (PNG per class folder, lesion masks, datalist.csv).",
    )
    parser.add_argument("--study", required=True, choices=sorted(STUDIES))
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--patients", type=int, default=12, help="patients per class (default 12)")
    parser.add_argument("--images", type=int, default=3, help="images per patient (default 3)")
    parser.add_argument("--size", type=int, default=None, help="pixels per side (default: the study's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.patients < 1 or args.images < 1:
        parser.error("--patients and --images must be at least 1")
    start = time.perf_counter()
    try:
        path = write_study_images(args.study, args.out, args.patients, args.images, args.size, args.seed)
    except ValueError as err:
        parser.error(str(err))
    n = args.patients * args.images * len(STUDIES[args.study].classes)
    print(f"wrote {n} images and {path} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
