"""``python -m liver3d.demo --out DIR``: the main job, end to end, on data the package makes itself.

0. the shipped release model on a real CT (``liver3d segment data/real_ct/example_ct_sm.nii.gz``): label map,
   3D Slicer file and structured report, with the liver Dice against TotalSegmentator's liver mask;
1. generate CT phantoms: a training set and a held-out test set (another seed), and check both;
2. draw a montage of axial slices with the labels;
3. train the ``liver_tumor_seg`` cascade (stage 1 coarse, stage 2 liver ROI) with ``monai.bundle run``;
4. evaluate it on the held-out phantoms: NIfTI label maps, 3D Slicer segmentations and a metrics table;
5. train the ``liver_slice_cls`` slice classifier briefly (2.5D: three slices in), evaluate it on every
   held-out slice, and run its CAM evaluator (LayerCAM at ``layer3``, which localizes best on these
   phantoms; ``--cls-cam gradcam layer4`` is seed 000's choice): CAM volumes as NIfTI and the pseudo-mask
   IoU/Dice table next to seed 000's numbers. ``--cls-input liver-roi`` or ``masked-liver`` trains it
   instead on the liver ROI (or the liver alone, the rest blanked) of ``--cls-cases`` phantoms and their
   lesion-free twins, so that only the lesions tell a tumor slice from a liver slice (the bundle docs give
   each one's recipe and results: ``masked-liver`` with ``--cls-epochs 18 --cls-cam gradcam++ layer3``);
6. the structured report (``python -m liver3d.report``) of one held-out case's segmentation;
7. the three 2D studies (``image_cls_2d``: chest X-ray pneumonia, 4-class liver CT, 8-class multi-organ MRI) on
   generated 2D images: train, evaluate (threshold chosen on validation, confusion reports) and Grad-CAM boxes.

Every bundle step is the same ``python -m monai.bundle run ...`` command a user types; the demo prints it.
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from liver3d.check import run_check
from liver3d.data.datalist import load_datalist
from liver3d.data.splits import patients, split_by_patient
from liver3d.floors import DemoResults
from liver3d.paths import REPO_ROOT, bundle_dir
from liver3d.phantoms.dataset import write_phantom_dataset
from liver3d.repeatability import machine
from liver3d.split import write_split
from liver3d.viz.montage import save_montage

BUNDLES = REPO_ROOT / "bundles"


class ClassifierInput(NamedTuple):
    """What the slice classifier sees (``--cls-input``): as the demo prints it, and as bundle overrides."""

    description: str
    overrides: dict


@functools.cache
def classifier_inputs() -> dict[str, ClassifierInput]:
    """The slice bundle's named inputs (``configs/classifier_inputs.json``), descriptions filled in with
    ``train.json``'s values."""
    configs = bundle_dir("liver_slice_cls") / "configs"
    train = json.loads((configs / "train.json").read_text(encoding="utf-8"))
    named = json.loads((configs / "classifier_inputs.json").read_text(encoding="utf-8"))
    return {
        name: ClassifierInput(spec["description"].format(**train), spec["overrides"])
        for name, spec in named.items()
        if not name.startswith("_")
    }


# Step 9: each 2D study on generated images, its own config scaled down for 2 CPU cores (ResNet-18 instead of
# ResNet-50, 128 px), trained from scratch: learning rate 1e-3, and enough epochs (a from-scratch ResNet sits at
# chance for about ten epochs on these sets before it learns), so early stopping waits 15 validations.
STUDIES_2D = {
    "xray_pneumonia": {"patients": 30, "images": 2, "epochs": 30, "overrides": {"resnet_depth": 18}},
    "liver_disease_4class": {
        "patients": 30,
        "images": 2,
        "epochs": 30,
        "overrides": {"resnet_depth": 18, "batch_size": 16, "learning_rate": 0.001},
    },
    "multiorgan_8class": {"patients": 12, "images": 3, "epochs": 20, "overrides": {}},
}


class DemoFailed(RuntimeError):
    """A demo step that failed; ``main`` prints the message and exits 1."""


def _phantoms(out: Path, cases: int, seed: int, shape, workers: int, label: str, twins: bool = False) -> Path:
    datalist = write_phantom_dataset(out, cases, seed, shape, workers=workers, twins=twins)
    n_cases, findings = run_check(str(datalist))
    errors = sum(f.severity == "ERROR" for f in findings)
    for f in findings:
        print(f"      {f}")
    tumors = sum(len(e["tumors"]) for e in load_datalist(datalist))
    print(
        f"      {label}: {n_cases} cases, {tumors} tumors, seed {seed} -> {datalist}; check: {errors} errors"
    )
    if errors:
        raise DemoFailed(f"the generated {label} phantoms failed the dataset check")
    return datalist


def run_bundle(bundle: str, configs: list[str], overrides: dict, log: Path) -> None:
    """Run ``python -m monai.bundle run`` with ``bundle``'s ``configs`` and ``overrides``; keep its log (its
    results are read from the files it writes, by ``show_step``)."""
    files = [str(BUNDLES / bundle / "configs" / c) for c in configs]
    config_arg = files[0] if len(files) == 1 else "[" + ",".join(f"'{f}'" for f in files) + "]"
    cmd = [sys.executable, "-m", "monai.bundle", "run", "--config_file", config_arg]
    for key, value in overrides.items():
        cmd += [f"--{key}", str(value)]
    shown = " ".join(f'"{c}"' if c.startswith("[") else shlex.quote(c) for c in ["python", *cmd[1:]])
    print(f"      $ {shown}")
    start = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO_ROOT, check=False)
    text = log.read_text(encoding="utf-8")
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        raise DemoFailed(f"bundle run failed (exit {proc.returncode}); log: {log}\n{tail}")
    print(f"      ({time.perf_counter() - start:.0f} s, log {log})")


def show_step(results: DemoResults, step: str) -> None:
    """Print a step's result tables (the Markdown files its bundle wrote) and its floors (a WARNING line for
    each one the run fell below); ``results`` rewrites ``demo_results.json``."""
    tables, checks = results.step(step)
    for table in tables:
        print("      " + table.read_text(encoding="utf-8").strip().replace("\n", "\n      "))
    for check in checks:
        print(f"      {check.line()}")


REAL_CT = REPO_ROOT / "data" / "real_ct"
TOTALSEG_LIVER = 5


def real_ct_step(out: Path) -> None:
    """Step 0: ``liver3d segment`` with the shipped weights on the repository's real CT, scored against
    TotalSegmentator's liver (a model output, not a manual mask)."""
    import nibabel as nib
    import numpy as np

    from liver3d.evaluation.metrics import score_structure
    from liver3d.segment import segment

    image = REAL_CT / "example_ct_sm.nii.gz"
    print(f"[0/9] shipped model on a real CT: liver3d segment {image.relative_to(REPO_ROOT)} -o {out}")
    result = segment(image, out, progress=False)
    pred = nib.load(result.outputs["label_map"])
    labels = np.asarray(pred.dataobj)
    reference = np.asarray(nib.load(REAL_CT / "example_seg.nii.gz").dataobj) == TOTALSEG_LIVER
    spacing = nib.affines.voxel_sizes(pred.affine)
    liver = score_structure(labels, reference.astype(np.uint8), [1, 2], spacing)
    for caution in result.cautions:
        print(f"      WARNING: {caution.message}")
    print(
        f"      liver {result.liver_ml:.0f} mL (TotalSegmentator {liver.reference_ml:.0f} mL), Dice {liver.dice:.3f}; "
        f"{result.lesions} lesion(s), {result.tumor_ml:.1f} mL tumor (the reference has none); "
        f"{sum(result.seconds.values()):.1f} s"
    )
    for role, path in result.outputs.items():
        print(f"      {role}: {path}")


def main(argv: list[str] | None = None) -> int:
    try:
        return run_demo(argv)
    except DemoFailed as err:
        print(f"ERROR demo: {err}", file=sys.stderr)
        return 1


def run_demo(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liver3d.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_out", help="output folder")
    parser.add_argument("--train-cases", type=int, default=12)
    parser.add_argument("--test-cases", type=int, default=4)
    parser.add_argument(
        "--seed", type=int, default=0, help="training phantoms' seed; test phantoms use seed + 1000"
    )
    parser.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=(128, 128, 56),
        metavar=("X", "Y", "Z"),
        help="phantom grid for training and test (default 128 128 56: about 2.7 mm pixels, 4 mm slices)",
    )
    parser.add_argument(
        "--fine-pixdim", type=float, nargs=3, default=(2.5, 2.5, 4.0), help="stage-2 spacing, mm"
    )
    parser.add_argument("--roi-size", type=int, nargs=3, default=(64, 64, 32))
    parser.add_argument(
        "--train-seed",
        type=int,
        default=0,
        help="every training's seed (the bundles' set_determinism seed); the data stay those of --seed",
    )
    parser.add_argument("--epochs", type=int, default=80, help="epochs per stage")
    parser.add_argument("--cls-epochs", type=int, default=12, help="slice classifier epochs (0 skips it)")
    parser.add_argument("--cls-image-size", type=int, default=128, help="slice classifier input, pixels")
    parser.add_argument(
        "--cls-context", type=int, default=3, help="slice classifier input slices (2.5D; 1 is plain 2D)"
    )
    parser.add_argument(
        "--cls-cam",
        nargs=2,
        default=("layercam", "layer3"),
        metavar=("METHOD", "LAYER"),
        help="CAM method and layer of the slice classifier's evaluator (bundle docs compare them)",
    )
    parser.add_argument(
        "--cls-input",
        choices=classifier_inputs(),
        default="whole-slices",
        help="what the slice classifier sees: "
        + "; ".join(f"{name}: {seen.description}" for name, seen in classifier_inputs().items())
        + " (the liver ones learn from phantoms and their lesion-free twins and need a liver mask at inference)",
    )
    parser.add_argument(
        "--cls-cases",
        type=int,
        default=24,
        help="phantoms (seed --seed, each with its lesion-free twin) the liver-roi and masked-liver classifiers "
        "learn from (whole slices use the cascade's --train-cases phantoms)",
    )
    parser.add_argument(
        "--cls-test-cases",
        type=int,
        default=16,
        help="held-out phantoms (seed --seed + 5000) the slice classifier and its CAMs are scored on, and its "
        "floors judged on (four patients proved too few to judge it; bundle docs); 0: the cascade's --test-cases",
    )
    parser.add_argument(
        "--studies-2d",
        nargs="*",
        default=list(STUDIES_2D),
        help="2D studies to run in step 9 (default all three; none: give the flag alone)",
    )
    parser.add_argument("--only-2d", action="store_true", help="run only step 9, the 2D studies")
    parser.add_argument("--epochs-2d", type=int, default=None, help="epochs per 2D study (default 20-30)")
    parser.add_argument("--patients-2d", type=int, default=None, help="patients per class (default 12-30)")
    parser.add_argument("--image-size-2d", type=int, default=128, help="2D network input, pixels")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--skip-training", action="store_true", help="only phantoms, check, split and montage"
    )
    parser.add_argument(
        "--skip-real-ct", action="store_true", help="skip step 0 (shipped model on a real CT)"
    )
    parser.add_argument("--only-real-ct", action="store_true", help="run only step 0")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    shape = tuple(args.shape)
    start = time.perf_counter()
    unknown = sorted(set(args.studies_2d) - set(STUDIES_2D))
    if unknown:
        parser.error(f"--studies-2d: unknown {unknown}; choose from {list(STUDIES_2D)}")
    results = DemoResults(
        out,
        settings={
            "seed": args.seed,
            "train_seed": args.train_seed,
            "argv": argv or sys.argv[1:],
            "machine": machine(),
        },
    )
    if args.only_2d:
        image_studies(out, results, args)
        return finish(results, start)

    if not args.skip_real_ct:
        real_ct_step(out / "real_ct")
        if args.only_real_ct:
            print(f"done in {time.perf_counter() - start:.0f} s")
            return 0
    print("[1/9] CT phantoms (python -m liver3d.phantoms) and dataset check (python -m liver3d.check)")
    train_list = _phantoms(out / "phantoms", args.train_cases, args.seed, shape, args.workers, "training")
    test_list = _phantoms(
        out / "phantoms_test", args.test_cases, args.seed + 1000, shape, args.workers, "held-out test"
    )
    entries = load_datalist(train_list)
    parts = split_by_patient(entries, val_fraction=0.17, seed=args.seed)
    split_path = write_split(parts, out / "split.json", str(train_list))
    print(
        f"      patient-level split {split_path}: "
        + " / ".join(f"{len(patients(v))} {k}" for k, v in parts.items())
    )

    print("[2/9] montage of axial slices with liver (green) and tumor (red)")
    shown = entries[:3]
    png = save_montage(
        [(e["image"], e["label"]) for e in shown], out / "montage.png", titles=[e["case_id"] for e in shown]
    )
    print(f"      {png}")
    if args.skip_training:
        print(f"done in {time.perf_counter() - start:.0f} s")
        return 0

    work = out / "liver_tumor_seg"
    common = {
        "bundle_root": work,
        "roi_size": list(args.roi_size),
        "fine_pixdim": list(args.fine_pixdim),
        "seed": args.train_seed,
    }
    common = {k: (str(v).replace(" ", "") if isinstance(v, list) else v) for k, v in common.items()}
    train = {
        **common,
        "dataset_dir": out / "phantoms",
        "max_epochs": args.epochs,
        "val_interval": max(1, args.epochs // 4),
        "val_fraction": 0.17,
        "learning_rate": 0.003,
        "resume": False,
    }
    print(
        f"[3/9] training stage 1 (liver and tumor on a {args.fine_pixdim[0] * 2:g} mm grid), {args.epochs} epochs"
    )
    run_bundle("liver_tumor_seg", ["train.json"], train, out / "logs" / "train_stage1.log")
    print(f"[4/9] training stage 2 (liver ROI at {args.fine_pixdim[0]:g} mm), {args.epochs} epochs")
    run_bundle(
        "liver_tumor_seg", ["train.json", "train_stage2.json"], train, out / "logs" / "train_stage2.log"
    )

    print("[5/9] cascade inference and evaluation on the held-out phantoms")
    run_bundle(
        "liver_tumor_seg",
        ["inference.json", "evaluate.json"],
        {**common, "input": test_list.parent},
        out / "logs" / "evaluate.log",
    )
    show_step(results, "segmentation")
    print(f"      label maps (NIfTI, input geometry) and 3D Slicer segmentations: {work / 'eval'}")
    register_for_viewer(out, "liver + tumor cascade (demo)", "segmentation", None, common)
    print(
        f"      training curves: {work / 'eval' / 'stage1' / 'training_curves.png'}, {work / 'eval' / 'stage2' / 'training_curves.png'}"
    )
    if args.cls_epochs > 0:
        slice_classifier(out, test_list.parent, results, args)
    structured_report(work / "eval", load_datalist(test_list)[0])
    image_studies(out, results, args)
    return finish(results, start)


def finish(results: DemoResults, start: float) -> int:
    """The floors of every step that ran, once more: how many held, which did not."""
    if results.checks:
        held = sum(c.passed for c in results.checks)
        print(f"floors: {held} of {len(results.checks)} held (configs/demo_floors.json) -> {results.write()}")
        for check in results.below_floor:
            print(f"      {check.line()}")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


def slice_classifier(out: Path, test_dir: Path, results: DemoResults, args) -> None:
    """Steps 6-7: the liver_slice_cls bundle on the same phantoms (same patient-level split rule)."""
    work = out / "liver_slice_cls"
    epochs, seed = args.cls_epochs, args.seed
    seen = classifier_inputs()[args.cls_input]
    common = {
        "bundle_root": work,
        "image_size": args.cls_image_size,
        "context": args.cls_context,
        "cam_method": args.cls_cam[0],
        "cam_layer": args.cls_cam[1],
        **seen.overrides,
        "seed": args.train_seed,
    }
    print(
        f"[6/9] training the slice classifier (background / liver / tumor, ResNet-18 2D, "
        f"{args.cls_context} slices in, {seen.description}), {epochs} epochs"
    )
    data = out / "phantoms"
    if seen.overrides["liver_roi"]:
        print(f"      {args.cls_cases} phantoms, each with its lesion-free twin (--lesion-free-twins)")
        data = _phantoms(
            out / "phantoms_twins", args.cls_cases, args.seed, tuple(args.shape), args.workers,
            "training with twins", twins=True,
        ).parent  # fmt: skip
    run_bundle(
        "liver_slice_cls",
        ["train.json"],
        {
            **common,
            "dataset_dir": data,
            "max_epochs": epochs,
            "val_fraction": 0.17,
            "split_seed": seed,
            "learning_rate": 0.0003,
            "early_stop_patience": epochs,  # the evaluations use the end of the cosine schedule
            "resume": False,
            "progress_bar": False,
        },
        out / "logs" / "train_slice_cls.log",
    )
    print("[7/9] slice classifier on every held-out slice, then its CAM evaluator on the volumes")
    if args.cls_test_cases > 0:
        test_dir = _phantoms(
            out / "phantoms_cls_test", args.cls_test_cases, args.seed + 5000, tuple(args.shape), args.workers,
            "classifier held-out",
        ).parent  # fmt: skip
    held_out = {**common, "eval_dataset_dir": test_dir}
    run_bundle(
        "liver_slice_cls", ["train.json", "evaluate.json"], held_out, out / "logs" / "evaluate_slice_cls.log"
    )
    show_step(results, "slice_classifier")
    run_bundle(
        "liver_slice_cls", ["train.json", "evaluate_cam.json"], held_out, out / "logs" / "evaluate_cam.log"
    )
    show_step(results, "slice_classifier_cam")
    print(
        f"      CAM volumes (NIfTI, input geometry), tables and best/worst overlays: {work / 'eval' / 'cam'}"
    )
    register_for_viewer(out, "slice classifier (demo)", "slice_classifier", None, common)


def register_for_viewer(out: Path, name: str, task: str, configs: list[str] | None, overrides: dict) -> None:
    """Add a trained model to ``out/app_models.json``, the registry ``python -m liver3d.app`` reads."""
    from liver3d.app.registry import register_model

    keep = {
        k: v
        for k, v in overrides.items()
        if k not in ("dataset_dir", "progress_bar", "early_stop_patience", "seed")
    }
    keep = {k: (json.loads(v) if isinstance(v, str) and v.startswith("[") else v) for k, v in keep.items()}
    keep = {k: (str(v) if isinstance(v, Path) else v) for k, v in keep.items()}
    spec = {"name": name, "task": task, "overrides": keep}
    if configs:
        spec["configs"] = configs
    register_model(out / "app_models.json", spec)


def structured_report(eval_dir: Path, case: dict) -> None:
    """Step 8: the report of the first held-out case, from its predicted segmentation and its CT."""
    from liver3d.data.datalist import case_name
    from liver3d.report import build_report, to_markdown

    name = case_name(case["image"])
    seg = eval_dir / f"{name}_seg.nii.gz"
    print(f"[8/9] structured report of {name} (predicted segmentation)")
    print(f"      $ python -m liver3d.report {seg} --image {case['image']}")
    report, paths = build_report(seg, eval_dir / f"{name}_report", case["image"])
    print("      " + to_markdown(report).replace("\n", "\n      ").rstrip())
    print(f"      report: {paths['html']} (and report.json, report.md, the planes PNG)")


def image_studies(out: Path, results: DemoResults, args) -> None:
    """Step 9: the image_cls_2d bundle for each 2D study, on images generated for it."""
    from liver3d.phantoms.images2d import write_study_images

    seed, epochs, patients, image_size = args.seed, args.epochs_2d, args.patients_2d, args.image_size_2d
    for study in args.studies_2d:
        plan = STUDIES_2D[study]
        n_patients, n_epochs = patients or plan["patients"], epochs or plan["epochs"]
        data = out / "images2d" / study
        datalist = write_study_images(study, data, n_patients, plan["images"], seed=seed)
        print(
            f"[9/9] {study}: {n_patients} patients per class x {plan['images']} images "
            f"(python -m liver3d.phantoms.images2d) -> {datalist}"
        )
        configs = ["train.json", f"{study}.json"]
        common = {
            "bundle_root": out / "image_cls_2d",
            "dataset_dir": data,
            "image_size": image_size,
            "seed": args.train_seed,
            "early_stop_patience": 15,
            "progress_bar": False,
            **plan["overrides"],
        }
        logs = out / "logs" / study
        train = {**common, "max_epochs": n_epochs, "resume": False}
        run_bundle("image_cls_2d", configs, train, logs.with_name(f"{study}_train.log"))
        run_bundle(
            "image_cls_2d", [*configs, "evaluate.json"], common, logs.with_name(f"{study}_evaluate.log")
        )
        run_bundle("image_cls_2d", [*configs, "cam.json"], common, logs.with_name(f"{study}_cam.log"))
        show_step(results, study)
        print(f"      reports, figures and CAM boxes: {out / 'image_cls_2d' / 'eval' / study}")
        register_for_viewer(out, f"{study} (demo)", "image2d", [*configs, "cam.json"], common)


if __name__ == "__main__":
    sys.exit(main())
