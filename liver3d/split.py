"""``python -m liver3d.split DATALIST --out SPLIT.json``: patient-level train/val/test or k-fold splits.

Writes a Decathlon-style JSON with ``training``, ``validation`` and ``test`` lists (absolute paths) that
bundle configs read with ``monai.data.load_decathlon_datalist``; with ``--folds K`` it writes one file per
fold (``SPLIT_fold0.json`` ...).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from liver3d.data.datalist import DatalistError, load_datalist
from liver3d.data.splits import kfold_by_patient, patients, split_by_patient
from liver3d.io.atomic import write_json_atomic


def write_split(parts: dict[str, list[dict]], path: str | Path, source: str) -> Path:
    data = {
        "source": source,
        "split_unit": "patient_id",
        "training": parts.get("train", []),
        "validation": parts.get("val", []),
        "test": parts.get("test", []),
    }
    return write_json_atomic(path, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liver3d.split", description=__doc__.splitlines()[0])
    parser.add_argument("datalist")
    parser.add_argument("--out", required=True, help="output JSON (with --folds: a name to add _foldK to)")
    parser.add_argument("--val", type=float, default=0.2, help="fraction of patients for validation")
    parser.add_argument("--test", type=float, default=0.0, help="fraction of patients for test")
    parser.add_argument("--folds", type=int, default=0, help="k-fold cross-validation instead (k >= 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stratify", default="has_tumor", help="entry key to stratify by ('' for none)")
    args = parser.parse_args(argv)
    try:
        entries = load_datalist(args.datalist)
    except DatalistError as err:
        print(f"ERROR {err}")
        return 1
    stratify = args.stratify or None
    if args.folds:
        out = Path(args.out)
        stem = out.name[: -len(".json")] if out.name.endswith(".json") else out.name
        for k, fold in enumerate(kfold_by_patient(entries, args.folds, args.seed, stratify)):
            path = write_split(fold, out.with_name(f"{stem}_fold{k}.json"), args.datalist)
            print(f"{path}: {len(patients(fold['train']))} train / {len(patients(fold['val']))} val patients")
        return 0
    parts = split_by_patient(entries, args.val, args.test, args.seed, stratify)
    path = write_split(parts, args.out, args.datalist)
    counts = " / ".join(f"{len(patients(v))} {k}" for k, v in parts.items())
    print(f"{path}: {counts} patients")
    return 0


if __name__ == "__main__":
    sys.exit(main())
