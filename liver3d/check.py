"""``python -m liver3d.check DATALIST``: report every problem of a dataset, one line each; exit 1 on errors.

DATALIST is a Decathlon-style ``dataset.json`` (or a folder with ``imagesTr/`` and ``labelsTr/``).
Label values are checked against the datalist's ``labels`` table, else against ``configs/labels.json``.
"""

from __future__ import annotations

import argparse
import sys

from liver3d.data.checks import Finding, check_datalist
from liver3d.data.datalist import DatalistError, declared_labels, load_datalist
from liver3d.labels import load_label_table


def run_check(
    datalist: str, key: str = "training", header_only: bool = False, allow_empty: bool = False
) -> tuple[int, list[Finding]]:
    """Check a datalist; return (number of cases, findings)."""
    entries = load_datalist(datalist, key)
    allowed = declared_labels(datalist) or list(load_label_table().values)
    return len(entries), check_datalist(entries, allowed, header_only=header_only, allow_empty=allow_empty)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liver3d.check", description=__doc__.splitlines()[0])
    parser.add_argument("datalist", help="dataset.json or a folder with imagesTr/ and labelsTr/")
    parser.add_argument(
        "--key", default="training", help="which list of the datalist to check (default: training)"
    )
    parser.add_argument("--header-only", action="store_true", help="check headers only, do not read voxels")
    parser.add_argument("--allow-empty", action="store_true", help="accept label maps with no foreground")
    args = parser.parse_args(argv)
    try:
        n_cases, findings = run_check(args.datalist, args.key, args.header_only, args.allow_empty)
    except DatalistError as err:
        print(f"ERROR {err}")
        return 1
    for finding in findings:
        print(finding)
    errors = sum(f.severity == "ERROR" for f in findings)
    warnings = len(findings) - errors
    print(f"checked {n_cases} cases: {errors} errors, {warnings} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
