"""``python -m liver3d.phantoms.real_background`` (``liver3d real-background``): synthetic lesions planted in a
real CT's liver, written as a training set (see :mod:`liver3d.phantoms.real_background.planting`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from liver3d.errors import InputError
from liver3d.phantoms.contrast import Phase
from liver3d.phantoms.real_background.planting import __doc__ as PLANTING_DOC
from liver3d.phantoms.real_background.planting import write_real_background_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m liver3d.phantoms.real_background",
        description=PLANTING_DOC.splitlines()[0],
    )
    parser.add_argument("--ct", required=True, help="a real CT (NIfTI file or DICOM series folder), in HU")
    parser.add_argument("--liver-mask", required=True, help="its label map, on the CT's grid")
    parser.add_argument(
        "--liver-value", type=int, default=1, help="the liver's value in the mask (TotalSegmentator: 5)"
    )
    parser.add_argument(
        "--phase", required=True, choices=[p.value for p in Phase], help="the CT's contrast phase"
    )
    parser.add_argument(
        "--to-phases",
        nargs="+",
        choices=[p.value for p in Phase],
        help="each variant draws its phase from these; the CT's tissues are moved to it first "
        "(needs the scan's full TotalSegmentator map as --liver-mask)",
    )
    parser.add_argument(
        "--montage",
        action="store_true",
        help="also write <out>/montage_phases.png: the first variant of each phase beside the CT itself",
    )
    parser.add_argument("--real", nargs="*", default=[], help="more real CTs to show in the montage")
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix", default="real_bg", help="case-id prefix (and patient id)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        for extra in args.real:  # checked before anything is written
            if not Path(extra).exists():
                raise InputError(extra, "not found (--real)")
        path = write_real_background_dataset(
            args.ct,
            args.liver_mask,
            args.out,
            args.phase,
            args.cases,
            args.seed,
            args.liver_value,
            args.prefix,
            args.to_phases,
        )
        print(f"wrote {args.cases} variants of {args.ct} and {path}")
        if args.montage:
            from liver3d.phantoms.montage import write_dataset_montage

            montage = write_dataset_montage(
                path, Path(args.out) / "montage_phases.png", [args.ct, *args.real]
            )
            print(f"wrote {montage}")
    except (OSError, ValueError) as err:  # InputError (one line: the file and the problem) is a ValueError
        print(f"ERROR {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
