"""Side by side: nnU-Net v2 (its own pipeline) and liver3d's cascade, same phantoms, same wall-clock budget.

    pip install -e '.[bench]'                                   # nnunetv2, never imported by the package
    python scripts/bench_vs_nnunet.py --budget-min 10           # CPU: nnU-Net default + reduced plan, liver3d
    python scripts/bench_vs_nnunet.py --budget-min 5 --plans default --device cuda   # a GPU, default plan

1. Phantoms as the demo makes them (``--shape``, training seed ``--seed``, test seed ``--seed`` + 1000); the
   training cases are split into train/validation with liver3d's patient-level rule (the demo's
   ``val_fraction``), and nnU-Net gets that same split as its fold 0 (``splits_final.json``).
2. nnU-Net: ``Dataset501_Liver3dPhantoms`` in nnU-Net's raw layout; its fingerprint, its planner (the
   default ``nnUNetPlans``) and preprocessing; its trainer (``nnUNetTrainer``: its augmentation, Dice+CE loss
   with deep supervision, SGD with the poly schedule, foreground oversampling), run in-process for the budget:
   after the first epoch (``--iterations-per-epoch``) the poly schedule is re-aimed at the number of epochs
   the budget holds, so the learning rate reaches zero when the budget ends; then its predictor (sliding
   window, Gaussian weighting, mirroring TTA) on the test cases.
   ``--plans reduced`` also trains a plans file edited to fit a CPU budget (written next to the default one
   and recorded in the results): the first five stages of the default U-Net, features halved, the patch
   shrunk to 0.6x per axis (rounded to the network's stride), batch size 2, everything else unchanged.
3. liver3d: ``train.json`` (learning rate 0.003, as the demo) then ``train_stage2.json``, each stage given half the budget
   (``budget_min``, the bundle's wall-clock handler), then ``inference.json`` on the test cases. ``--liver3d-variants``
   trains more than the plain cascade, each with its overlays from :data:`LIVER3D_VARIANTS` (nnU-Net's poly
   schedule, DynUNet with deep supervision, both) and its own bundle root; ``--liver3d-epochs`` aims each stage's
   schedule at that many epochs (the budget still stops it), so a decaying schedule ends inside the budget.
4. Both sides' label maps are scored by ``liver3d.evaluate`` (voxel metrics and LiTS lesion metrics); the table
   gives iterations done, training minutes and inference seconds per case. Results go to ``--work``
   (``results.json``, ``results.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "bundles" / "liver_tumor_seg" / "configs"
DATASET_ID, DATASET_NAME = 501, "Dataset501_Liver3dPhantoms"
# liver3d training variants: the overlays added to train.json (both stages) and, for the network, to inference.json
LIVER3D_VARIANTS = {
    "cascade": {"train": [], "network": []},
    "poly_lr": {"train": ["train_poly_lr.json"], "network": []},
    "deep_supervision": {"train": ["network_dynunet.json", "train_deep_supervision.json"], "network": ["network_dynunet.json"]},
    "nnunet_style": {
        "train": ["network_dynunet.json", "train_deep_supervision.json", "train_poly_lr.json"],
        "network": ["network_dynunet.json"],
    },
}  # fmt: skip


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default=str(ROOT / "bench_out" / "nnunet"))
    p.add_argument("--train-cases", type=int, default=24)
    p.add_argument("--test-cases", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shape", type=int, nargs=3, default=(128, 128, 56))
    p.add_argument("--val-fraction", type=float, default=0.17)
    p.add_argument("--budget-min", type=float, default=10.0, help="training wall time per method")
    p.add_argument("--plans", nargs="+", choices=("default", "reduced"), default=["default", "reduced"])
    p.add_argument(
        "--iterations-per-epoch", type=int, default=5,
        help="nnU-Net iterations per epoch (its default is 250; small, so the wall-clock budget is kept to an epoch)",
    )  # fmt: skip
    p.add_argument("--val-interval", type=int, default=5, help="liver3d validation every N epochs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-liver3d", action="store_true")
    p.add_argument("--liver3d-variants", nargs="+", choices=sorted(LIVER3D_VARIANTS), default=["cascade"])
    p.add_argument(
        "--liver3d-epochs", type=int, default=10000, help="max_epochs per liver3d stage (schedule length)"
    )
    p.add_argument("--skip-nnunet", action="store_true")
    return p.parse_args(argv)


# -- data ---------------------------------------------------------------------------------------------------


def make_phantoms(work: Path, args) -> tuple[Path, Path]:
    from liver3d.phantoms import write_phantom_dataset

    train, test = work / "phantoms_train", work / "phantoms_test"
    for folder, cases, seed in (
        (train, args.train_cases, args.seed),
        (test, args.test_cases, args.seed + 1000),
    ):
        if not (folder / "dataset.json").is_file():
            write_phantom_dataset(folder, cases, seed=seed, shape=tuple(args.shape))
    return train, test


def liver3d_split(train: Path, val_fraction: float) -> dict[str, list[str]]:
    """The train/validation case names liver3d's train.json uses (split_by_patient, split_seed 0)."""
    from liver3d.data import load_datalist, split_by_patient
    from liver3d.data.datalist import case_name

    split = split_by_patient(load_datalist(train), val_fraction, 0.0, 0)
    return {k: [case_name(e["image"]) for e in split[k]] for k in ("train", "val")}


# -- nnU-Net --------------------------------------------------------------------------------------------------


def nnunet_env(work: Path, device: str) -> None:
    """nnU-Net reads its folders from the environment when first imported."""
    # nnU-Net's augmentation workers: one on a CPU (they share its cores with training), its own choice on a GPU.
    if os.environ.get("nnUNet_n_proc_DA") is None and not device.startswith("cuda"):
        os.environ["nnUNet_n_proc_DA"] = "1"
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ[name] = str(work / name)
        (work / name).mkdir(parents=True, exist_ok=True)


def nnunet_raw(work: Path, train: Path, test: Path) -> Path:
    """nnU-Net's raw layout: imagesTr/<case>_0000.nii.gz, labelsTr/<case>.nii.gz, dataset.json; test images."""
    from liver3d.data import load_datalist
    from liver3d.data.datalist import case_name
    from liver3d.labels import load_label_table

    raw = work / "nnUNet_raw" / DATASET_NAME
    for sub in ("imagesTr", "labelsTr", "imagesTs"):
        (raw / sub).mkdir(parents=True, exist_ok=True)
    entries = load_datalist(train)
    for e in entries:
        case = case_name(e["image"])
        shutil.copyfile(e["image"], raw / "imagesTr" / f"{case}_0000.nii.gz")
        shutil.copyfile(e["label"], raw / "labelsTr" / f"{case}.nii.gz")
    for e in load_datalist(test):
        shutil.copyfile(e["image"], raw / "imagesTs" / f"{case_name(e['image'])}_0000.nii.gz")
    table = load_label_table()
    labels = {"background": 0, "liver": table.value("liver"), "tumor": table.value("tumor")}
    dataset = {
        "channel_names": {"0": "CT"},
        "labels": labels,
        "numTraining": len(entries),
        "file_ending": ".nii.gz",
    }
    (raw / "dataset.json").write_text(json.dumps(dataset, indent=2), encoding="utf-8")
    return raw


def nnunet_plan(split: dict[str, list[str]]) -> dict:
    """Fingerprint, default plan and preprocessing (3d_fullres); the shared train/val split as fold 0."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )
    from nnunetv2.paths import nnUNet_preprocessed

    folder = Path(nnUNet_preprocessed) / DATASET_NAME
    if not (folder / "nnUNetPlans.json").is_file():
        extract_fingerprints([DATASET_ID], num_processes=2, check_dataset_integrity=True)
        plan_experiments([DATASET_ID])
        preprocess([DATASET_ID], configurations=["3d_fullres"], num_processes=[2])
    (folder / "splits_final.json").write_text(json.dumps([split], indent=2), encoding="utf-8")
    return json.loads((folder / "nnUNetPlans.json").read_text(encoding="utf-8"))


def reduced_plans(plans: dict) -> tuple[dict, dict]:
    """The default plan edited to fit a CPU budget, and a record of every change (see the module docstring)."""
    import copy

    import numpy as np

    reduced = copy.deepcopy(plans)
    reduced["plans_name"] = "nnUNetPlans_reduced"
    cfg = reduced["configurations"]["3d_fullres"]
    arch = cfg["architecture"]["arch_kwargs"]
    before = {"patch_size": list(cfg["patch_size"]), "batch_size": cfg["batch_size"],
              "n_stages": arch["n_stages"], "features_per_stage": list(arch["features_per_stage"])}  # fmt: skip
    n = min(5, arch["n_stages"])
    arch["n_stages"] = n
    arch["features_per_stage"] = [max(8, f // 2) for f in arch["features_per_stage"][:n]]
    for key in ("kernel_sizes", "strides", "n_conv_per_stage"):
        arch[key] = arch[key][:n]
    arch["n_conv_per_stage_decoder"] = arch["n_conv_per_stage_decoder"][: n - 1]
    stride = np.prod(np.asarray(arch["strides"]), axis=0)
    cfg["patch_size"] = [int(max(s, (p * 0.6) // s * s)) for p, s in zip(cfg["patch_size"], stride)]
    cfg["batch_size"] = 2
    after = {
        "patch_size": cfg["patch_size"],
        "batch_size": 2,
        "n_stages": n,
        "features_per_stage": arch["features_per_stage"],
    }
    return reduced, {"before": before, "after": after}


def _unwrapped(network):
    """The module under torch.compile's wrapper (nnU-Net compiles on CUDA): its keys have no ``_orig_mod.``."""
    return getattr(network, "_orig_mod", network)


def nnunet_train_predict(plans: dict, name: str, budget_s: float, args, test_images: Path, out: Path) -> dict:
    """Train nnU-Net's trainer on fold 0 for ``budget_s`` seconds in-process, then predict the test images."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.paths import nnUNet_preprocessed, nnUNet_raw
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    class BudgetReached(Exception):
        pass

    class BudgetTrainer(nnUNetTrainer):
        """nnUNetTrainer, stopped by wall time; the poly schedule re-aimed at the epochs the budget holds."""

        def on_train_start(self):
            super().on_train_start()
            self.budget_start = time.perf_counter()

        def on_epoch_end(self):
            super().on_epoch_end()
            elapsed = time.perf_counter() - self.budget_start
            per_epoch = elapsed / self.current_epoch  # current_epoch counts the epochs done
            if self.current_epoch == 1:
                self.lr_scheduler.max_steps = max(1, int(budget_s // per_epoch))
            # Stop when the next epoch would not end within the budget (or the schedule is done).
            if elapsed + per_epoch > budget_s or self.current_epoch >= self.lr_scheduler.max_steps:
                raise BudgetReached

    dataset_json = json.loads((Path(nnUNet_raw) / DATASET_NAME / "dataset.json").read_text())
    (Path(nnUNet_preprocessed) / DATASET_NAME / f"{plans['plans_name']}.json").write_text(
        json.dumps(plans, indent=2)
    )
    device = torch.device(args.device)
    trainer = BudgetTrainer(
        {**plans, "continue_training": False}, "3d_fullres", 0, dataset_json, device=device
    )
    trainer.num_iterations_per_epoch = args.iterations_per_epoch
    trainer.num_val_iterations_per_epoch = 2
    start = time.perf_counter()
    try:
        trainer.run_training()
    except BudgetReached:
        trainer.on_train_end()
    train_s = time.perf_counter() - start
    epochs = trainer.current_epoch
    trainer.set_deep_supervision_enabled(False)
    trainer.network.eval()
    predictor = nnUNetPredictor(
        tile_step_size=0.5, use_gaussian=True, use_mirroring=True, perform_everything_on_device=device.type == "cuda",
        device=device, allow_tqdm=False,
    )  # fmt: skip
    predictor.manual_initialization(
        trainer.network, trainer.plans_manager, trainer.configuration_manager,
        [{k: v.detach().cpu() for k, v in _unwrapped(trainer.network).state_dict().items()}], dataset_json,
        "nnUNetTrainer", trainer.inference_allowed_mirroring_axes,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    predictor.predict_from_files_sequential(
        str(test_images), str(out), save_probabilities=False, overwrite=True
    )
    infer_s = time.perf_counter() - start
    cases = len(list(test_images.glob("*_0000.nii.gz")))
    cfg = plans["configurations"]["3d_fullres"]
    return {
        "method": f"nnU-Net v2 ({name} plan)",
        "iterations": epochs * args.iterations_per_epoch,
        "epochs": epochs,
        "train_min": round(train_s / 60, 1),
        "infer_s_per_case": round(infer_s / cases, 1),
        "patch_size": cfg["patch_size"],
        "batch_size": cfg["batch_size"],
        "features_per_stage": cfg["architecture"]["arch_kwargs"]["features_per_stage"],
        "pred_dir": str(out),
    }


# -- liver3d --------------------------------------------------------------------------------------------------


def liver3d_train_predict(
    work: Path, train: Path, test: Path, budget_min: float, args, variant: str = "cascade"
) -> dict:
    from monai.bundle import run

    overlays = LIVER3D_VARIANTS[variant]
    root = work / ("liver3d_bundle" if variant == "cascade" else f"liver3d_bundle_{variant}")
    common = {"bundle_root": str(root), "device": f"$torch.device('{args.device}')", "num_workers": 0}
    train_overrides = {
        **common, "dataset_dir": str(train), "val_fraction": args.val_fraction, "max_epochs": args.liver3d_epochs,
        "val_interval": args.val_interval, "learning_rate": 0.003, "resume": False, "budget_min": budget_min / 2, "progress_bar": False,
    }  # fmt: skip
    import torch

    from liver3d.engines import latest_checkpoint

    start = time.perf_counter()
    iterations = 0
    for stage, configs in (("stage1", ["train.json"]), ("stage2", ["train.json", "train_stage2.json"])):
        run(
            config_file=[str(CONFIGS / c) for c in configs + overlays["train"]],
            meta_file=str(CONFIGS / "metadata.json"),
            **train_overrides,
        )
        state = torch.load(latest_checkpoint(root / "models" / stage), map_location="cpu", weights_only=True)
        iterations += int(state["trainer"]["iteration"])
    train_s = time.perf_counter() - start
    missing = [s for s in ("stage1", "stage2") if not (root / "models" / s / "model.pt").is_file()]
    if missing:  # inference would otherwise fall back to the shipped release weights
        raise SystemExit(f"liver3d: no validated model for {missing} within the budget; lower --val-interval")
    out = work / ("pred_liver3d" if variant == "cascade" else f"pred_liver3d_{variant}")
    start = time.perf_counter()
    run(
        config_file=[str(CONFIGS / c) for c in ["inference.json", *overlays["network"]]],
        meta_file=str(CONFIGS / "metadata.json"),
        input=str(test), output_dir=str(out), save_slicer=False, **common,
    )  # fmt: skip
    infer_s = time.perf_counter() - start
    cases = len(list((test / "imagesTr").glob("*.nii.gz")))
    return {
        "method": f"liver3d {variant} (train.json{''.join(' + ' + c for c in overlays['train'])}, lr 0.003)",
        "iterations": iterations or None,
        "train_min": round(train_s / 60, 1),
        "infer_s_per_case": round(infer_s / cases, 1),
        "patch_size": "96x96x64 patches (roi_size), 2 x 2 per iteration",
        "pred_dir": str(out),
    }


# -- scoring and tables ---------------------------------------------------------------------------------------


def score(result: dict, test: Path, work: Path) -> dict:
    from liver3d.evaluate import evaluate

    out = work / "scores" / result["method"].split(" (")[0].replace(" ", "_") / Path(result["pred_dir"]).name
    paths = evaluate(result["pred_dir"], test / "labelsTr", out, n_resamples=1000)
    voxel = {r["structure"]: r for r in json.loads(paths["summary_json"].read_text())}
    lesion = json.loads(paths["lesions_summary_json"].read_text())
    result["liver_dice"] = [voxel["liver"][k] for k in ("dice_mean", "dice_ci95_low", "dice_ci95_high")]
    result["tumor_dice"] = [voxel["tumor"][k] for k in ("dice_mean", "dice_ci95_low", "dice_ci95_high")]
    result["lesion_recall"] = lesion["overlap"]["recall"]
    result["lesion_precision"] = lesion["overlap"]["precision"]
    result["fp_per_case"] = lesion["overlap"]["fp_per_case"]["value"]
    result["scores_dir"] = str(out)
    return result


def _ci(values) -> str:
    if isinstance(values, dict):
        values = [values["value"], values["ci95_low"], values["ci95_high"]]
    mean, lo, hi = values
    return "n/a" if mean != mean else f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def markdown(results: list[dict], args, hardware: str) -> str:
    lines = [
        f"Budget {args.budget_min:g} min of training per method; {args.train_cases} training phantoms "
        f"({args.shape[0]}x{args.shape[1]}x{args.shape[2]}, seed {args.seed}), {args.test_cases} test phantoms "
        f"(seed {args.seed + 1000}); {hardware}.",
        "",
        "| method | iterations | train min | liver Dice | tumor Dice | lesion recall | lesion precision | FP/case | inference s/case |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['method']} | {r['iterations']} | {r['train_min']} | {_ci(r['liver_dice'])} | {_ci(r['tumor_dice'])} | "
            f"{_ci(r['lesion_recall'])} | {_ci(r['lesion_precision'])} | {r['fp_per_case']:.2f} | {r['infer_s_per_case']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    import torch

    hardware = (
        f"{torch.cuda.get_device_name(0)}"
        if args.device.startswith("cuda")
        else f"{os.cpu_count()} CPU cores"
    ) + f", torch {torch.__version__}, {platform.machine()}"
    train, test = make_phantoms(work, args)
    split = liver3d_split(train, args.val_fraction)
    budget_s = args.budget_min * 60
    results = []
    if not args.skip_nnunet:
        nnunet_env(work, args.device)
        raw = nnunet_raw(work, train, test)
        plans = nnunet_plan(split)
        edits = None
        for name in args.plans:
            chosen = plans
            if name == "reduced":
                chosen, edits = reduced_plans(plans)
            r = nnunet_train_predict(
                chosen, name, budget_s, args, raw / "imagesTs", work / f"pred_nnunet_{name}"
            )
            if edits is not None and name == "reduced":
                r["plan_edits"] = edits
            results.append(score(r, test, work))
            print(markdown(results, args, hardware), flush=True)
    if not args.skip_liver3d:
        for variant in args.liver3d_variants:
            r = liver3d_train_predict(work, train, test, args.budget_min, args, variant)
            results.append(score(r, test, work))
            print(markdown(results, args, hardware), flush=True)
    table = markdown(results, args, hardware)
    (work / "results.json").write_text(
        json.dumps({"args": vars(args), "hardware": hardware, "results": results}, indent=2, default=str)
    )
    (work / "results.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
