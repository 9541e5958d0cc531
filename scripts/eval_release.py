"""Evaluate a liver_tumor_seg cascade (default: the shipped release weights) on held-out phantoms and real CT.

    python scripts/eval_release.py                         # shipped weights; tables to release_data/eval/
    python scripts/eval_release.py --bundle-root release_data/bundle --cases-per-phase 6

1. Held-out phantoms of every contrast phase (``--cases-per-phase`` per phase, seed ``--seed`` + phase
   index, a seed the release recipe never trains or validates on), generated once under ``--work``;
   per phase: liver and tumor Dice (mean with a case-bootstrap 95% CI), false tumor volume in tumor-free
   cases; per lesion type: lesions, recall (a reference lesion is found when any predicted tumor voxel
   overlaps it), recall for lesions of 10 mm or more, median per-lesion Dice.
2. The real CTs of ``../shared/data/real_ct`` (TotalSegmentator liver masks, no tumors): liver Dice and
   false tumor volume (``scripts/real_ct_check.py``).

Writes ``eval_release.json`` and ``eval_release.md`` (the tables of the model card) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_ct_check import REAL, parse_overrides, segmentation_rows  # noqa: E402

from liver3d.evaluation.metrics import bootstrap_ci, score_case  # noqa: E402
from liver3d.phantoms.contrast import Phase  # noqa: E402

CONFIGS = ROOT / "bundles" / "liver_tumor_seg" / "configs"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle-root", default=str(ROOT / "bundles" / "liver_tumor_seg"))
    p.add_argument("--work", default=str(ROOT / "release_data" / "eval_phantoms"))
    p.add_argument("--out", default=str(ROOT / "release_data" / "eval"))
    p.add_argument("--cases-per-phase", type=int, default=5)
    p.add_argument("--seed", type=int, default=300)
    p.add_argument("--matrix", type=int, default=192)
    p.add_argument("--skip-real", action="store_true")
    p.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=JSON", help="inference.json overrides (values are JSON)"
    )
    return p.parse_args(argv)


def make_test_sets(work: Path, per_phase: int, seed: int, matrix: int) -> dict[str, Path]:
    from liver3d.phantoms import write_phantom_dataset

    folders = {}
    for index, phase in enumerate(Phase):
        folder = work / phase.value
        if not (folder / "dataset.json").is_file():
            write_phantom_dataset(folder, per_phase, seed=seed + index, matrix=matrix, phase=phase.value)
        folders[phase.value] = folder
    return folders


def predict(folder: Path, bundle_root: str, out: Path, overrides: dict | None = None) -> float:
    from monai.bundle import run

    start = time.perf_counter()
    run(
        config_file=str(CONFIGS / "inference.json"),
        meta_file=str(CONFIGS / "metadata.json"),
        bundle_root=bundle_root,
        input=str(folder),
        output_dir=str(out),
        save_slicer=False,
        **(overrides or {}),
    )
    return time.perf_counter() - start


def lesion_rows(pred: np.ndarray, ref: np.ndarray, spacing, entry: dict) -> list[dict]:
    """One row per reference lesion (3D component of label 2): its type, size, found or not, Dice."""
    ref_t, pred_t = ref == 2, pred == 2
    comps, count = ndimage.label(ref_t, structure=np.ones((3, 3, 3)))
    pred_comps, _ = ndimage.label(pred_t, structure=np.ones((3, 3, 3)))
    affine = np.asarray(entry["_affine"])
    centres = [np.asarray(t["center_mm"]) for t in entry.get("tumors", [])]
    rows = []
    for index in range(1, count + 1):
        lesion = comps == index
        touching = np.unique(pred_comps[lesion])
        touching = touching[touching > 0]
        predicted = np.isin(pred_comps, touching) if touching.size else np.zeros_like(lesion)
        inter = int((predicted & lesion).sum())
        dice = 2 * inter / (int(predicted.sum()) + int(lesion.sum()))
        centroid = affine @ np.append(ndimage.center_of_mass(lesion), 1.0)
        kind = "unknown"
        if centres:
            nearest = int(np.argmin([np.linalg.norm(c - centroid[:3]) for c in centres]))
            kind = entry["tumors"][nearest]["pattern"]
        diameter = float((6 * lesion.sum() * np.prod(spacing) / np.pi) ** (1 / 3))
        rows.append({"type": kind, "diameter_mm": diameter, "found": inter > 0, "dice": dice})
    return rows


def evaluate_phantoms(args) -> tuple[list[dict], list[dict], dict]:
    from liver3d.data.datalist import load_datalist

    folders = make_test_sets(Path(args.work), args.cases_per_phase, args.seed, args.matrix)
    phase_rows, lesions, seconds = [], [], {}
    for phase, folder in folders.items():
        with tempfile.TemporaryDirectory() as tmp:
            seconds[phase] = predict(folder, args.bundle_root, Path(tmp), parse_overrides(args.set))
            for entry in load_datalist(folder):
                case = entry["case_id"]
                ref_img = nib.load(entry["label"])
                pred = np.asarray(nib.load(Path(tmp) / f"{case}_seg.nii.gz").dataobj)
                ref = np.asarray(ref_img.dataobj)
                spacing = nib.affines.voxel_sizes(ref_img.affine)
                scores = {s.structure: s for s in score_case(pred, ref, spacing, case)}
                false_tumor = (
                    float((pred == 2).sum() * np.prod(spacing) / 1000) if not (ref == 2).any() else None
                )
                phase_rows.append(
                    {
                        "phase": phase,
                        "case": case,
                        "condition": entry.get("liver_condition"),
                        "scan_range": entry.get("scan_range"),
                        "liver_dice": scores["liver"].dice,
                        "tumor_dice": scores["tumor"].dice if (ref == 2).any() else None,
                        "false_tumor_ml_tumor_free": false_tumor,
                    }
                )
                entry["_affine"] = ref_img.affine
                for row in lesion_rows(pred, ref, spacing, entry):
                    lesions.append({"phase": phase, **row})
    return phase_rows, lesions, seconds


def _mean_ci(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    lo, hi = bootstrap_ci(values)
    return f"{np.mean(values):.3f} [{lo:.3f}, {hi:.3f}]"


def tables(phase_rows, lesions, real_rows) -> str:
    lines = [
        "| phase | cases | liver Dice [95% CI] | tumor Dice [95% CI] (cases with tumor) | false tumor mL, tumor-free cases |"
    ]
    lines.append("|---|---|---|---|---|")
    for phase in [p.value for p in Phase] + ["all"]:
        rows = [r for r in phase_rows if phase in ("all", r["phase"])]
        free = [r["false_tumor_ml_tumor_free"] for r in rows if r["false_tumor_ml_tumor_free"] is not None]
        lines.append(
            f"| {phase} | {len(rows)} | {_mean_ci([r['liver_dice'] for r in rows])} | "
            f"{_mean_ci([r['tumor_dice'] for r in rows])} | "
            + (f"{np.mean(free):.1f} (n={len(free)})" if free else "-")
            + " |"
        )
    lines += [
        "",
        "| lesion type | lesions | recall | recall >= 10 mm | median per-lesion Dice |",
        "|---|---|---|---|---|",
    ]
    for kind in sorted({r["type"] for r in lesions}) + ["all"]:
        rows = [r for r in lesions if kind in ("all", r["type"])]
        big = [r for r in rows if r["diameter_mm"] >= 10]
        lines.append(
            f"| {kind} | {len(rows)} | {np.mean([r['found'] for r in rows]):.2f} | "
            + (f"{np.mean([r['found'] for r in big]):.2f} (n={len(big)})" if big else "-")
            + f" | {np.median([r['dice'] for r in rows]):.3f} |"
        )
    if real_rows:
        lines += [
            "",
            "| real CT | grid | liver Dice | HD95 mm | reference mL | predicted mL | false tumor mL |",
        ]
        lines.append("|---|---|---|---|---|---|---|")
        for r in real_rows:
            lines.append(
                f"| {r['case']} | {r['grid']} | {r['liver_dice']:.3f} | {r['liver_hd95_mm']:.1f} | "
                f"{r['reference_ml']:.0f} | {r['predicted_ml']:.0f} | {r['false_tumor_ml']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    phase_rows, lesions, seconds = evaluate_phantoms(args)
    overrides = parse_overrides(args.set)
    real_rows = (
        [] if args.skip_real or not REAL.is_dir() else segmentation_rows(REAL, args.bundle_root, overrides)
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "bundle_root": args.bundle_root,
        "inference_overrides": overrides,
        "phantoms": {"seed": args.seed, "cases_per_phase": args.cases_per_phase, "matrix": args.matrix},
        "cases": phase_rows,
        "lesions": lesions,
        "real_ct": real_rows,
        "inference_seconds_per_phase_set": seconds,
    }
    (out / "eval_release.json").write_text(json.dumps(record, indent=2, default=float), encoding="utf-8")
    text = tables(phase_rows, lesions, real_rows)
    (out / "eval_release.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out / 'eval_release.json'}, {out / 'eval_release.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
