"""``python -m liver3d.report SEGMENTATION [--image CT] [--out DIR]``: a structured liver report.

Writes ``report.json`` (every number, with the voxel counts behind it), ``report.md``, ``report.html`` and, with a
CT, ``<case>_planes.png`` (axial, coronal, sagittal through the largest lesion); prints the Markdown. Bad input
(missing or damaged file, label values outside 0/1/2, CT on another grid) gives one ``ERROR <file>: <problem>``
line and exit code 1, and nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from liver3d.data.datalist import case_name
from liver3d.io.readers import VolumeError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liver3d.report", description=__doc__.splitlines()[0])
    parser.add_argument("segmentation", help="label map (NIfTI): 0 background, 1 liver, 2 tumor")
    parser.add_argument(
        "--image", help="the CT (NIfTI or DICOM series folder) on the same grid: HU and figures"
    )
    parser.add_argument("--heatmap", help="a heatmap NIfTI on the same grid (e.g. a CAM) to draw over the CT")
    parser.add_argument("--out", help="output folder (default: <case>_report beside the segmentation)")
    parser.add_argument("--window", default="abdomen", help="display window for the figures")
    args = parser.parse_args(argv)
    from liver3d.report.build import build_report
    from liver3d.report.render import to_markdown

    seg = Path(args.segmentation)
    out = Path(args.out) if args.out else seg.parent / f"{case_name(str(seg))}_report"
    try:
        report, paths = build_report(seg, out, args.image, args.window, args.heatmap)
    except VolumeError as err:
        print(f"ERROR {err.path}: {err.problem}", file=sys.stderr)
        return 1
    print(to_markdown(report))
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
