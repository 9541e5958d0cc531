"""How does a phantom-trained cascade do on real livers? Runs the bundle's inference on the two real CTs in
``../shared/data/real_ct`` (a NIfTI volume and a DICOM series) and scores the liver against their
TotalSegmentator masks (liver = 5 there), on the reference's grid.

    python scripts/real_ct_check.py --bundle-root demo_out/liver_tumor_seg --fine-pixdim 2.5 2.5 4 --roi-size 64 64 32
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from monai.bundle import run
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

from liver3d.evaluation.metrics import score_structure
from liver3d.labels import load_label_table

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "bundles" / "liver_tumor_seg" / "configs"
REAL = ROOT.parent / "shared" / "data" / "real_ct"
CASES = [("example_ct_sm.nii.gz", "example_seg.nii.gz"), ("dicom_ct", "example_seg_dicom.nii.gz")]
TOTALSEG_LIVER = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundle-root", default="demo_out/liver_tumor_seg", help="holds models/stage{1,2}/model.pt"
    )
    parser.add_argument("--fine-pixdim", type=float, nargs=3, default=(2.5, 2.5, 4.0))
    parser.add_argument("--roi-size", type=int, nargs=3, default=(64, 64, 32))
    parser.add_argument("--real-dir", default=str(REAL))
    args = parser.parse_args(argv)
    real = Path(args.real_dir)
    if not real.is_dir():
        raise SystemExit(f"{real}: real CT folder not found")
    table = load_label_table()
    print("| case | grid | liver Dice | IoU | HD95 mm | reference mL | predicted mL | false tumor mL |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as out:
        for image, reference in CASES:
            run(
                config_file=str(CONFIGS / "inference.json"),
                meta_file=str(CONFIGS / "metadata.json"),
                input=str(real / image),
                bundle_root=args.bundle_root,
                output_dir=out,
                fine_pixdim=list(args.fine_pixdim),
                roi_size=list(args.roi_size),
                save_slicer=False,
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
