"""How do phantom-trained models do on real livers? Runs bundles on the two real CTs in
``../shared/data/real_ct`` (a NIfTI volume and a DICOM series) against their TotalSegmentator masks (liver = 5
there), on the reference's grid:

- the segmentation cascade: liver Dice, IoU, HD95, volumes, false tumor;
- with ``--slice-cls-root``, the slice classifier: per-slice report (no slice has a tumor, so every "tumor"
  prediction is a false alarm) and the Grad-CAM evaluator's liver pseudo-mask IoU/Dice.

    python scripts/real_ct_check.py                       # the shipped release model
    python scripts/real_ct_check.py --bundle-root demo_out/liver_tumor_seg --fine-pixdim 2.5 2.5 4 --roi-size 64 64 32 \
        --slice-cls-root demo_out/liver_slice_cls --image-size 128
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from monai.bundle import run
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

from liver3d.evaluation.metrics import score_structure
from liver3d.io.nifti import save_nifti
from liver3d.io.readers import read_header
from liver3d.labels import load_label_table

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "bundles" / "liver_tumor_seg" / "configs"
SLICE_CONFIGS = ROOT / "bundles" / "liver_slice_cls" / "configs"
# What the slice classifier sees, by --cls-input name: the bundle's overrides for each (its docs compare them).
CLASSIFIER_INPUTS = json.loads((SLICE_CONFIGS / "classifier_inputs.json").read_text(encoding="utf-8"))
REAL = ROOT.parent / "shared" / "data" / "real_ct"
CASES = [("example_ct_sm.nii.gz", "example_seg.nii.gz"), ("dicom_ct", "example_seg_dicom.nii.gz")]
TOTALSEG_LIVER = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundle-root",
        default=str(ROOT / "bundles" / "liver_tumor_seg"),
        help="holds models/stage{1,2}/model.pt (default: the repository's bundle with its release weights)",
    )
    parser.add_argument("--fine-pixdim", type=float, nargs=3, help="default: the bundle's inference.json")
    parser.add_argument("--roi-size", type=int, nargs=3, help="default: the bundle's inference.json")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=JSON",
        help="inference.json overrides, e.g. stage1_weight=0.25 'stage1_blend=\"foreground\"'",
    )
    parser.add_argument("--real-dir", default=str(REAL))
    parser.add_argument(
        "--slice-cls-root",
        help="a trained liver_slice_cls bundle_root (its models/model_final.pt) to check too",
    )
    parser.add_argument("--image-size", type=int, default=128, help="the slice classifier's image_size")
    parser.add_argument(
        "--context", type=int, default=3, help="the slice classifier's input slices (the demo's 3)"
    )
    parser.add_argument(
        "--cls-input",
        choices=[name for name in CLASSIFIER_INPUTS if not name.startswith("_")],
        default="whole-slices",
        help="what the slice classifier was trained to see (as the demo's --cls-input; the liver ones are "
        "given TotalSegmentator's liver)",
    )
    parser.add_argument("--skip-seg", action="store_true", help="only the slice classifier")
    args = parser.parse_args(argv)
    real = Path(args.real_dir)
    if not real.is_dir():
        raise SystemExit(f"{real}: real CT folder not found")
    if not args.skip_seg:
        segmentation_check(real, args)
    if args.slice_cls_root:
        slice_classifier_check(real, Path(args.slice_cls_root), args.image_size, args.context, args.cls_input)
    return 0


def slice_classifier_check(
    real: Path, bundle_root: Path, image_size: int, context: int, cls_input: str
) -> None:
    """The slice classifier's report and liver Grad-CAM scores on the real CTs (labels: liver 1, else 0)."""
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for image, reference in CASES:
            # The DICOM masks are stored LAS; the classifier's checks want the label in the CT's voxel order.
            label_array, label_affine = in_image_order(real / reference, read_header(real / image))
            label = save_nifti(
                (label_array == TOTALSEG_LIVER).astype(np.uint8), label_affine, Path(tmp) / reference
            )
            name = image[: -len(".nii.gz")] if image.endswith(".nii.gz") else image
            cases.append(
                {"image": str(real / image), "label": str(label), "case_id": name, "patient_id": name}
            )
        common = {
            "meta_file": str(SLICE_CONFIGS / "metadata.json"),
            "bundle_root": str(bundle_root),
            "image_size": image_size,
            "context": context,
            **CLASSIFIER_INPUTS[cls_input]["overrides"],
            "eval_data": cases,
        }
        report_dir, cam_dir = Path(tmp) / "report", Path(tmp) / "cam"
        run(
            config_file=[str(SLICE_CONFIGS / c) for c in ("train.json", "evaluate.json")],
            output_dir=str(report_dir),
            **common,
        )
        run(
            config_file=[str(SLICE_CONFIGS / c) for c in ("train.json", "evaluate_cam.json")],
            output_dir=str(cam_dir),
            cam_structures=[{"name": "liver", "class_index": 1, "reference": [1], "gate": [1, 2]}],
            **common,
        )
        report = json.loads((report_dir / "classification_report.json").read_text(encoding="utf-8"))
        summary = json.loads((cam_dir / "cam_summary.json").read_text(encoding="utf-8"))["summary"]
    print(
        f"slice classifier on {report['n']} real slices (no tumors): confusion matrix {report['confusion_matrix']}"
    )
    for row in summary:
        print(
            f"liver Grad-CAM, {row['protocol']}: IoU {row['iou']:.3f}, Dice {row['dice']:.3f} at {row['threshold']:.2f}"
        )


def in_image_order(reference: Path, header) -> tuple[np.ndarray, np.ndarray]:
    """The reference label map reoriented to the image's voxel order, and the image's affine."""
    ref = nib.load(reference)
    transform = ornt_transform(io_orientation(ref.affine), io_orientation(header.affine))
    array = apply_orientation(np.asarray(ref.dataobj), transform)
    if not np.allclose(ref.affine @ inv_ornt_aff(transform, ref.shape), header.affine, atol=1e-3):
        raise SystemExit(f"{reference}: not on the grid of {header.path}")
    return array, header.affine


def parse_overrides(items: list[str]) -> dict:
    """``["stage1_weight=0.25", 'stage1_blend="foreground"']`` -> inference.json overrides (values are JSON)."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item}: expected KEY=JSON")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError as err:
            raise SystemExit(f"--set {item}: the value is not JSON ({err.msg})") from err
    return overrides


def segmentation_check(real: Path, args: argparse.Namespace) -> list[dict]:
    """Run the cascade on each real CT; print and return one row per case."""
    overrides = {}
    if args.fine_pixdim:
        overrides["fine_pixdim"] = list(args.fine_pixdim)
    if args.roi_size:
        overrides["roi_size"] = list(args.roi_size)
    overrides.update(parse_overrides(args.set))
    return segmentation_rows(real, args.bundle_root, overrides)


def segmentation_rows(real: Path, bundle_root: str | Path, overrides: dict | None = None) -> list[dict]:
    table = load_label_table()
    rows = []
    print("| case | grid | liver Dice | IoU | HD95 mm | reference mL | predicted mL | false tumor mL |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as out:
        for image, reference in CASES:
            run(
                config_file=str(CONFIGS / "inference.json"),
                meta_file=str(CONFIGS / "metadata.json"),
                input=str(real / image),
                bundle_root=str(bundle_root),
                output_dir=out,
                save_slicer=False,
                **(overrides or {}),
            )
            name = image[: -len(".nii.gz")] if image.endswith(".nii.gz") else image
            pred = nib.load(Path(out) / f"{name}_seg.nii.gz")
            ref = nib.load(real / reference)
            # Bring the reference into the prediction's storage order; both then share one world grid.
            transform = ornt_transform(io_orientation(ref.affine), io_orientation(pred.affine))
            ref_mask = apply_orientation(
                (np.asarray(ref.dataobj) == TOTALSEG_LIVER).astype(np.uint8), transform
            )
            if not np.allclose(ref.affine @ inv_ornt_aff(transform, ref.shape), pred.affine, atol=1e-3):
                raise SystemExit(f"{reference}: not on the grid of {image}")
            labels = np.asarray(pred.dataobj)
            spacing = nib.affines.voxel_sizes(pred.affine)
            s = score_structure(labels, ref_mask, [table.value("liver"), table.value("tumor")], spacing)
            false_tumor = float((labels == table.value("tumor")).sum() * np.prod(spacing) / 1000)
            grid = (
                "x".join(str(n) for n in pred.shape) + " @ " + "x".join(f"{v:.2f}" for v in spacing) + " mm"
            )
            print(
                f"| {image} | {grid} | {s.dice:.3f} | {s.iou:.3f} | {s.hd95_mm:.1f} | {s.reference_ml:.0f} | "
                f"{s.predicted_ml:.0f} | {false_tumor:.1f} |"
            )
            rows.append(
                {
                    "case": image,
                    "grid": grid,
                    "liver_dice": s.dice,
                    "liver_iou": s.iou,
                    "liver_hd95_mm": s.hd95_mm,
                    "reference_ml": s.reference_ml,
                    "predicted_ml": s.predicted_ml,
                    "false_tumor_ml": false_tumor,
                }
            )
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
