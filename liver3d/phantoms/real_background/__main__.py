"""``python -m liver3d.phantoms.real_background`` (``liver3d real-background``): synthetic lesions planted in a
real CT's liver, written as a training set (see :mod:`liver3d.phantoms.real_background.planting`)."""

from __future__ import annotations

import argparse
import sys

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
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prefix", default="real_bg", help="case-id prefix (and patient id)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
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
    except (OSError, ValueError) as err:  # InputError (one line: the file and the problem) is a ValueError
        print(f"ERROR {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.cases} variants of {args.ct} and {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
