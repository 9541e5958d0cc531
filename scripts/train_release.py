"""Train the release cascade of ``bundles/liver_tumor_seg`` on phantoms and export its shipped weights.

    python scripts/train_release.py                    # generate phantoms, train stage 1 and 2, export
    python scripts/train_release.py --resume-unfinished  # continue stages a budget stopped, then export

Steps (each skipped when its output exists, so an interrupted run picks up where it stopped):

1. phantoms v2 with tissue maps: ``--cases`` training cases (seed ``--seed``) and ``--val-cases`` held-out
   validation cases (seed ``--val-seed``) under ``--work`` (default ``release_data/``, not committed);
2. stage 1 (liver + tumor on the coarse grid) and stage 2 (liver ROI on the fine grid) with
   ``train.json`` + ``train_release.json`` (+ ``train_stage2.json`` + ``train_release_stage2.json``), each
   within ``--budget-min-stage1`` / ``--budget-min-stage2`` minutes of wall time; every epoch is
   checkpointed, so a run stopped for any reason resumes from its last epoch;
3. export: the best validation checkpoints, in half precision, to ``bundles/liver_tumor_seg/models/release/``
   with their SHA-256 in ``manifest.json`` (read by the bundle's checksum check), plus ``training.json``
   (what was run: seeds, generator version, epochs done, wall time, hardware).

Fine-tuning: ``--init-from DIR`` starts each trained stage from ``DIR/<stage>.pt`` (a release folder, its
checksums checked) instead of random weights, ``--stages stage2`` trains only the fine stage (the others are
exported from ``--init-from`` unchanged) and ``--learning-rate`` overrides the recipe's. The 2.1 release
fine-tune (see the model card) ran::

    python scripts/train_release.py --work release_data/finetune_21 --seed 110 --val-seed 210 \
        --init-from bundles/liver_tumor_seg/models/release --stages stage2 --learning-rate 0.001 \
        --epochs-stage2 36 --budget-min-stage2 40 --export-to release_data/finetune_21/release

Mixing generators: ``--mix-with DIR`` adds the training phantoms of another folder (for example a set written
by an earlier generator version) to ``--cases``; the script writes their joint datalist to
``<work>/train_datalist.json`` and trains on it. The mixed stage-2 continuation of 2026-12-02 (generator 2.0
cases, as the shipped model saw, next to 2.1 cases with the larger left lobes, so that the new anatomy does
not push out the old), recipe committed before it runs::

    git worktree add /tmp/gen20 aad797e   # the last commit of generator 2.0
    (cd /tmp/gen20 && python -m liver3d.phantoms --out /work/main/release_data/gen20_train --cases 240 \
        --seed 100 --matrix 192 --tissues --workers 2 \
     && python -m liver3d.phantoms --out /work/main/release_data/mix2021/phantoms_val --cases 24 \
        --seed 200 --matrix 192 --tissues --workers 2)
    python scripts/train_release.py --work release_data/mix2021 --seed 110 --val-seed 200 \
        --mix-with release_data/gen20_train --init-from bundles/liver_tumor_seg/models/release \
        --stages stage2 --learning-rate 0.0005 --epochs-stage2 40 --budget-min-stage2 50 \
        --export-to release_data/mix2021/release

(validation: the shipped model's own 24 validation phantoms, generator 2.0 seed 200, written by the worktree
before the script runs, so the script keeps them and the best validation Dice compares with the shipped one.)

A second, independent stage 2 for an ensemble (2026-12-06; committed before it runs): random initial weights
(``--from-scratch``), another training seed, the same 480 mixed phantoms (generator 2.0 seed 100, written by
the worktree above, and generator 2.1 seed 110) and the shipped model's own validation set; stage 1 is
exported unchanged from the shipped release::

    python scripts/train_release.py --work release_data/member2 --seed 110 --val-seed 200 \
        --mix-with release_data/gen20_train --init-from bundles/liver_tumor_seg/models/release \
        --from-scratch --train-seed 1 --stages stage2 --epochs-stage2 52 --budget-min-stage2 85 \
        --export-to release_data/member2/release

(``release_data/member2/phantoms_val`` is the worktree's generator 2.0 seed 200 set, copied in before the run.)

A third stage-2 member (2026-12-06; committed before it runs): as the second, with training seed 2, generator 2.1
phantoms of another seed (120) beside the same generator 2.0 set, and per-tissue HU shifts of up to 50 HU
instead of 25 (vessels and lesions keep their own limits), so that it leans less on each tissue's density::

    python scripts/train_release.py --work release_data/member3 --seed 120 --val-seed 200 \
        --mix-with release_data/gen20_train --init-from bundles/liver_tumor_seg/models/release \
        --from-scratch --train-seed 2 --stages stage2 --epochs-stage2 52 --budget-min-stage2 85 \
        --set tissue_shift_hu=50 --export-to release_data/member3/release

A second stage 1 (2026-12-06; committed before it runs): the non-contrast real CT gains most from stage 1's
whole-abdomen outline (the foreground blend), and stage 1 is one network of 26 epochs (best validation 0.568).
From random weights, training seed 1, the 480 mixed phantoms of the second stage-2 member (its generator 2.1
seed 110 set, linked, beside the generator 2.0 set) and the same validation set; stage 2 is exported unchanged::

    mkdir -p release_data/stage1_m2
    ln -s ../member2/phantoms_train release_data/stage1_m2/phantoms_train
    ln -s ../member2/phantoms_val release_data/stage1_m2/phantoms_val
    python scripts/train_release.py --work release_data/stage1_m2 --seed 110 --val-seed 200 \
        --mix-with release_data/gen20_train --init-from bundles/liver_tumor_seg/models/release \
        --from-scratch --train-seed 1 --stages stage1 --epochs-stage1 32 --budget-min-stage1 48 \
        --export-to release_data/stage1_m2/release

Member 2, trained longer (2026-12-06; committed before it runs): its validation Dice still rose at its last
epochs (0.640 at 36, 0.658 at 44, 0.666 at 48), so it continues from its own weights at a lower learning rate,
training seed 3, on 720 phantoms (member 3's generator 2.1 seed 120 set, linked, beside member 2's two sets), and
joins the 0.2.0 release (the shipped ``stage1.pt`` and ``stage2.pt``, taken from git) as its second member::

    mkdir -p release_data/m2_cont release_data/rel020
    ln -s ../member3/phantoms_train release_data/m2_cont/phantoms_train
    ln -s ../member2/phantoms_val release_data/m2_cont/phantoms_val
    git archive 5f8d4d5^ bundles/liver_tumor_seg/models/release | tar -x -C release_data/rel020 --strip-components=4
    python scripts/train_release.py --work release_data/m2_cont --seed 120 --val-seed 200 \
        --mix-with release_data/member2/phantoms_train release_data/gen20_train \
        --init-from release_data/member2/release --train-seed 3 --stages stage2 --learning-rate 0.0005 \
        --epochs-stage2 36 --budget-min-stage2 52 --ensemble-with release_data/rel020 \
        --export-to release_data/ens_m2c/models/release

Member 2 on real backgrounds (2026-12-06; committed before it runs): issue 12 allows a real CT as the background
of synthetic tumors when the model card says so, and then that CT no longer validates. The DICOM slab of
``../shared/data/real_ct`` (portal venous, 20 slices of 2 mm; TotalSegmentator's liver mask, value 5) becomes 96
training variants with the phantoms' lesions planted in its liver (``liver3d.phantoms.real_background``, seed 0);
member 2 continues from its shipped weights on them beside its 480 phantoms (17 % real), learning rate 5e-4,
training seed 4, 20 epochs, and joins the shipped member 1 (the 0.2.0 ``stage2.pt``). The non-contrast NIfTI stays
the only real validation::

    python -m liver3d.phantoms.real_background --ct ../shared/data/real_ct/dicom_ct \
        --liver-mask ../shared/data/real_ct/example_seg_dicom.nii.gz --liver-value 5 --phase portal_venous \
        --cases 96 --seed 0 --prefix real_dicom --out release_data/real_dicom_bg
    mkdir -p release_data/rb_m2
    ln -s ../member2/phantoms_train release_data/rb_m2/phantoms_train
    ln -s ../member2/phantoms_val release_data/rb_m2/phantoms_val
    python scripts/train_release.py --work release_data/rb_m2 --seed 110 --val-seed 200 \
        --mix-with release_data/gen20_train release_data/real_dicom_bg \
        --init-from release_data/member2/release --train-seed 4 --stages stage2 --learning-rate 0.0005 \
        --epochs-stage2 20 --budget-min-stage2 30 --ensemble-with release_data/rel020 \
        --export-to release_data/rb_m2/release_ens

Member 1 on the same real backgrounds (2026-12-06; committed before it runs, after 0.4.0 shipped member 2's run
above): the shipped member 1 (the 0.2.0 ``stage2.pt``) continues on the same 576 cases with the same schedule,
training seed 5; the pair (member 1 and member 2, both continued) is then assembled with member 1's export as the
base (the second command skips member 2's finished training and only exports)::

    mkdir -p release_data/rb_m1
    ln -s ../member2/phantoms_train release_data/rb_m1/phantoms_train
    ln -s ../member2/phantoms_val release_data/rb_m1/phantoms_val
    python scripts/train_release.py --work release_data/rb_m1 --seed 110 --val-seed 200 \
        --mix-with release_data/gen20_train release_data/real_dicom_bg \
        --init-from release_data/rel020 --train-seed 5 --stages stage2 --learning-rate 0.0005 \
        --epochs-stage2 20 --budget-min-stage2 30 --export-to release_data/rb_m1/release
    python scripts/train_release.py --work release_data/rb_m2 --seed 110 --val-seed 200 \
        --mix-with release_data/gen20_train release_data/real_dicom_bg \
        --init-from release_data/member2/release --train-seed 4 --stages stage2 --learning-rate 0.0005 \
        --epochs-stage2 20 --budget-min-stage2 30 --ensemble-with release_data/rb_m1/release \
        --export-to release_data/rb_m12/release

It ships only when it beats 0.4.0 on the validation phantoms and does not lose liver Dice on the NIfTI scan.

Both 0.4.0 members on the real slab in every phase (2026-12-06; committed before it runs): the same slab, moved to
the other three contrast phases with its TotalSegmentator map (``--to-phases``, 96 more variants, seed 1), joins
the 576 cases (672: 29 % real anatomy, one patient); each shipped 0.4.0 member continues from its own weights with
the 0.4.0 schedule (member 1 training seed 6, member 2 seed 7), and the pair is assembled as 0.4.0 was::

    python -m liver3d.phantoms.real_background --ct ../shared/data/real_ct/dicom_ct \
        --liver-mask ../shared/data/real_ct/example_seg_dicom.nii.gz --liver-value 5 --phase portal_venous \
        --to-phases non_contrast arterial delayed --cases 96 --seed 1 --prefix real_dicom_phases \
        --out release_data/real_dicom_phases    # written at 5ab1da6; see below
    for m in rp_m1 rp_m2; do mkdir -p release_data/$m
        ln -s ../member2/phantoms_train release_data/$m/phantoms_train
        ln -s ../member2/phantoms_val release_data/$m/phantoms_val; done
    python scripts/train_release.py --work release_data/rp_m1 --seed 110 --val-seed 200 \
        --mix-with release_data/gen20_train release_data/real_dicom_bg release_data/real_dicom_phases \
        --init-from bundles/liver_tumor_seg/models/release --train-seed 6 --stages stage2 \
        --learning-rate 0.0005 --epochs-stage2 20 --budget-min-stage2 30 --export-to release_data/rp_m1/release
    python scripts/train_release.py --work release_data/rp_m2 --seed 110 --val-seed 200 \
        --mix-with release_data/gen20_train release_data/real_dicom_bg release_data/real_dicom_phases \
        --init-from bundles/liver_tumor_seg/models/release --init-member 2 --train-seed 7 --stages stage2 \
        --learning-rate 0.0005 --epochs-stage2 20 --budget-min-stage2 30 \
        --ensemble-with release_data/rp_m1/release --export-to release_data/rp_m12/release

The rule, as for 0.4.0: the pair ships only when it beats 0.4.0 on the 24 validation phantoms (the mean of liver
and tumor Dice at the options ``select_inference.py`` chooses) and does not lose liver Dice on the non-contrast
NIfTI scan. That scan is a weak validation by now: every candidate since 0.2.0 was measured on it, and this one
was built with the knowledge that a non-contrast liver is where the model is weakest.

(The 96 variants of that run were written by commit 5ab1da6. The next commit stopped moving the voxel layer just
outside a tissue that is not at least 30 HU brighter than the liver there, in that slab the IVC's edge inside the
liver; variants written after it differ from those in a few voxels beside the IVC, by about 10 HU.)

The second real scan as a background (2026-12-06; committed before it runs). Two steps; the first decides whether
the second runs.

1. Leave-one-out: does a real background help the *other* real scan? 0.4.0 showed it one way (the DICOM slab as
   a background moved the unseen NIfTI scan 0.845 -> 0.867, member 2 continued with the 0.2.0 member 1). This
   run is the mirror: the non-contrast NIfTI becomes 96 variants (seed 2), member 2 of 0.3.0 continues on them
   beside its 480 phantoms exactly as in that run (training seed 4, 20 epochs, learning rate 5e-4), joins the
   0.2.0 member 1, and is measured on the DICOM slab, which it has not seen, against the 0.3.0 pair, both at
   the shipped 0.4.0 inference defaults::

    python -m liver3d.phantoms.real_background --ct ../shared/data/real_ct/example_ct_sm.nii.gz \
        --liver-mask ../shared/data/real_ct/example_seg.nii.gz --liver-value 5 --phase non_contrast \
        --cases 96 --seed 2 --prefix real_nifti --out release_data/real_nifti_bg
    mkdir -p release_data/rbn_m2
    ln -s ../member2/phantoms_train release_data/rbn_m2/phantoms_train
    ln -s ../member2/phantoms_val release_data/rbn_m2/phantoms_val
    python scripts/train_release.py --work release_data/rbn_m2 --seed 110 --val-seed 200 \
        --mix-with release_data/gen20_train release_data/real_nifti_bg \
        --init-from release_data/member2/release --train-seed 4 --stages stage2 --learning-rate 0.0005 \
        --epochs-stage2 20 --budget-min-stage2 30 --ensemble-with release_data/rel020 \
        --export-to release_data/rbn_m2/release_ens

   Rule: step 2 runs only if this pair's liver Dice on the slab is above the 0.3.0 pair's at the same options
   (then a real background has helped an unseen real scan in both directions). Otherwise the NIfTI stays the
   release's real validation and nothing more is trained.

2. Both 0.4.0 members continue from their own weights on 672 cases: the 480 phantoms, the 96 slab variants and
   the 96 NIfTI variants (29 % real anatomy, two patients), with the 0.4.0 schedule. The commands are those of
   "Both 0.4.0 members on the real slab in every phase" above, with ``release_data/real_nifti_bg`` in place of
   ``release_data/real_dicom_phases``, work folders ``rbn_m1`` and ``rbn2_m2``, training seeds 8 (member 1) and
   9 (member 2), and the pair exported to ``release_data/rbn_m12/release``. (Not run: step 1 moved the unseen
   slab by 0.001, too little to give up the last real validation; see ``models/NOT_SHIPPED.md``.)

   Rule: the pair ships only when it beats 0.4.0 on the 24 validation phantoms (the mean of liver and tumor Dice
   at the options ``select_inference.py`` chooses) and its false tumor on the tumor-free validation phantoms (the
   script's column) is at most 1.5 times 0.4.0's. Both real scans are then training data: the model card says so,
   and from then on the real scores that count are the release scorer's.

Any of these members joins the shipped release as an ensemble member with the same command plus
``--ensemble-with bundles/liver_tumor_seg/models/release --export-to <folder>`` (training is skipped when its
stage is done): only when the ensemble is better on validation (see the model card).

The recipe is sized for 2 CPU cores in about two hours (``--fast`` model: 2.5 mm fine grid, 5 mm coarse
grid). On a GPU, ``--fine-pixdim 1.5 1.5 2.0 --epochs-stage1 200 --epochs-stage2 300`` trains the finer model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "liver_tumor_seg"
CONFIGS = BUNDLE / "configs"
STAGES = {
    "stage1": ["train.json", "train_release.json"],
    "stage2": ["train.json", "train_release.json", "train_stage2.json", "train_release_stage2.json"],
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="release_data", help="phantoms and training runs (not committed)")
    p.add_argument("--cases", type=int, default=240, help="training phantoms")
    p.add_argument("--val-cases", type=int, default=24, help="held-out validation phantoms")
    p.add_argument("--seed", type=int, default=100, help="training phantom seed")
    p.add_argument("--val-seed", type=int, default=200, help="validation phantom seed")
    p.add_argument(
        "--mix-with", nargs="+", default=[], help="more training phantom folders, added to --cases"
    )
    p.add_argument("--matrix", type=int, default=192, help="phantom in-plane matrix (pixels scale with it)")
    p.add_argument("--workers", type=int, default=2, help="processes for phantom generation")
    p.add_argument("--fine-pixdim", type=float, nargs=3, default=(2.5, 2.5, 2.5))
    p.add_argument("--epochs-stage1", type=int, default=26)
    p.add_argument("--epochs-stage2", type=int, default=44)
    p.add_argument("--epoch-length", type=int, default=50, help="iterations per epoch")
    p.add_argument("--budget-min-stage1", type=float, default=35.0)
    p.add_argument("--budget-min-stage2", type=float, default=60.0)
    p.add_argument("--resume-unfinished", action="store_true", help="continue stages a budget stopped")
    p.add_argument("--init-from", default=None, help="release folder whose <stage>.pt weights start training")
    p.add_argument(
        "--init-member",
        type=int,
        default=1,
        help="start from ensemble member K of --init-from (<stage>_m<K>.pt; 1, the default: <stage>.pt)",
    )
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="trained stages start from random weights; --init-from then only supplies the stages not trained",
    )
    p.add_argument(
        "--stages", nargs="+", choices=sorted(STAGES), default=sorted(STAGES), help="stages to train"
    )
    p.add_argument("--learning-rate", type=float, default=None, help="override the recipe's learning rate")
    p.add_argument(
        "--train-seed", type=int, default=None, help="override the recipe's training seed (set_determinism)"
    )
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=JSON",
        help="more bundle config overrides for the trained stages, e.g. tissue_shift_hu=50",
    )
    p.add_argument("--export-to", default=str(BUNDLE / "models" / "release"))
    p.add_argument(
        "--ensemble-with",
        default=None,
        help="a release folder: export it with the trained stages added as ensemble members (<stage>_m<k>)",
    )
    p.add_argument("--skip-export", action="store_true")
    return p.parse_args(argv)


def make_phantoms(folder: Path, cases: int, seed: int, matrix: int, workers: int) -> None:
    if (folder / "dataset.json").is_file():
        print(f"phantoms: {folder} exists")
        return
    from liver3d.phantoms import write_phantom_dataset

    start = time.perf_counter()
    write_phantom_dataset(folder, cases, seed=seed, matrix=matrix, workers=workers, tissues=True)
    print(
        f"phantoms: {cases} cases (seed {seed}) in {folder}, {time.perf_counter() - start:.0f} s", flush=True
    )


def training_datalist(work: Path, mix_with: list[str]) -> Path:
    """The training phantoms: ``<work>/phantoms_train``, or with ``mix_with`` one datalist of every folder's
    training cases (patient ids prefixed with the folder's name, so cases of two sets never share one)."""
    if not mix_with:
        return work / "phantoms_train"
    from liver3d.data import load_datalist
    from liver3d.io.atomic import write_json_atomic

    entries = []
    for folder in [work / "phantoms_train", *map(Path, mix_with)]:
        for entry in load_datalist(folder):
            entries.append({**entry, "patient_id": f"{folder.name}/{entry['patient_id']}"})
    path = work / "train_datalist.json"
    write_json_atomic(path, {"training": entries})
    print(f"training phantoms: {len(entries)} cases from {1 + len(mix_with)} folders ({path})")
    return path


def train_stage(stage: str, args: argparse.Namespace, work: Path) -> dict:
    run_root = work / "bundle"
    marker = run_root / f"{stage}.json"
    if marker.is_file():
        record = json.loads(marker.read_text(encoding="utf-8"))
        if record["epochs_done"] >= record["max_epochs"] or not args.resume_unfinished:
            print(f"{stage}: done earlier ({record['epochs_done']}/{record['max_epochs']} epochs)")
            return record
    epochs = args.epochs_stage1 if stage == "stage1" else args.epochs_stage2
    budget = args.budget_min_stage1 if stage == "stage1" else args.budget_min_stage2
    files = "[" + ",".join(f"'{CONFIGS / f}'" for f in STAGES[stage]) + "]"
    cmd = [
        sys.executable, "-m", "monai.bundle", "run",
        "--config_file", files,
        "--meta_file", str(CONFIGS / "metadata.json"),
        "--logging_file", str(CONFIGS / "logging.conf"),
        "--bundle_root", str(run_root),
        "--dataset_dir", str(training_datalist(work, args.mix_with)),
        "--val_dataset_dir", str(work / "phantoms_val"),
        "--fine_pixdim", json.dumps(list(args.fine_pixdim)),
        "--max_epochs", str(epochs),
        "--epoch_length", str(args.epoch_length),
        "--budget_min", str(budget),
        "--progress_bar", "False",
    ]  # fmt: skip
    if args.init_from and not args.from_scratch:
        cmd += ["--init_weights", str(Path(args.init_from) / f"{member_name(stage, args.init_member)}.pt")]
    if args.learning_rate is not None:
        cmd += ["--learning_rate", str(args.learning_rate)]
    if args.train_seed is not None:
        cmd += ["--seed", str(args.train_seed)]
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item}: expected KEY=JSON")
        cmd += [f"--{key}", value]
    log = run_root / f"{stage}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"{stage}: training ({epochs} epochs x {args.epoch_length} iterations, budget {budget:g} min); log {log}"
    )
    start = time.perf_counter()
    with open(log, "a", encoding="utf-8") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if code != 0:
        raise SystemExit(f"{stage}: training failed (exit {code}); see {log}")
    from liver3d.engines import latest_checkpoint
    from liver3d.io.atomic import write_json_atomic

    last = latest_checkpoint(run_root / "models" / stage)
    done = int(last.rsplit("=", 1)[1].split(".")[0]) if last else 0
    previous = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else {"wall_min": 0.0}
    record = {
        "stage": stage,
        "max_epochs": epochs,
        "epochs_done": done,
        "iterations_done": done * args.epoch_length,
        "wall_min": round(previous["wall_min"] + (time.perf_counter() - start) / 60, 1),
        "best_metric": best_metric(log),
        "config_files": STAGES[stage],
        "init_from": None if args.from_scratch else args.init_from,
        "init_member": None if args.from_scratch else member_name(stage, args.init_member),
        "learning_rate": args.learning_rate,
        "train_seed": args.train_seed,
        "config_overrides": list(args.set),
    }
    write_json_atomic(marker, record)
    print(
        f"{stage}: {done}/{epochs} epochs, {record['wall_min']} min, best val mean Dice {record['best_metric']}"
    )
    return record


def member_name(stage: str, member: int) -> str:
    """The file stem of ensemble member ``member`` (1-based) of ``stage`` in a release folder."""
    if member < 1:
        raise SystemExit(f"--init-member {member}: members count from 1")
    return stage if member == 1 else f"{stage}_m{member}"


def previous_record(release: Path, stage: str, member: int = 1) -> dict:
    """The training record of a stage (its ensemble member ``member``) in ``release``'s ``training.json``."""
    training = release / "training.json"
    record = {}
    if training.is_file():
        written = json.loads(training.read_text(encoding="utf-8"))
        if member > 1:
            written = written.get("ensemble_members", {}).get(member_name(stage, member), {})
        record = written.get("stages", {}).get(stage, {})
    return {**record, "exported_from": str(release)}


def best_metric(log: Path) -> float | None:
    best = None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if "best value:" in line:
            try:
                best = float(line.split("best value:")[1].split()[0])
            except (IndexError, ValueError):
                pass
    return best


def export(args: argparse.Namespace, work: Path, records: dict) -> None:
    from liver3d.networks.weights import export_release_weights

    sources = {
        stage: work / "bundle" / "models" / stage / "model.pt" for stage in STAGES if stage in args.stages
    }
    # a stage not trained here is shipped again byte for byte (checked against --init-from's manifest), so an
    # unchanged network never comes back as a new file in the repository's history
    unchanged = {stage: Path(args.init_from) / f"{stage}.pt" for stage in STAGES if stage not in args.stages}
    training = {
        "recipe": "scripts/train_release.py " + " ".join(sys.argv[1:]),
        "phantom_generator_version": generator_version(work / "phantoms_train"),
        "training_phantoms": {"cases": args.cases, "seed": args.seed, "matrix": args.matrix},
        "mixed_with": [
            {"folder": str(f), "generator_version": generator_version(Path(f)), "cases": _cases(Path(f))}
            for f in args.mix_with
        ],
        "validation_phantoms": {"cases": args.val_cases, "seed": args.val_seed, "matrix": args.matrix},
        "fine_pixdim": list(args.fine_pixdim),
        "stages": records,
        "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores",
        "torch_threads": _torch_threads(),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    ensembles, keep = None, unchanged
    if args.ensemble_with:
        keep, sources, ensembles, training = ensemble_sources(
            Path(args.ensemble_with), args.stages, work, training
        )
    out = export_release_weights(sources, Path(args.export_to), training, ensembles, keep)
    print(f"exported release weights to {out}")


def ensemble_sources(
    base: Path, trained: list[str], work: Path, record: dict
) -> tuple[dict, dict, dict, dict]:
    """``base``'s release with this run's trained stages added as ensemble members: the files to keep as they
    are, the new sources, the ensembles and the training record.

    Every file of ``base`` is kept byte for byte under its name (its own members included); a trained stage becomes
    ``<stage>_m<k>``, the next member of ``base/<stage>.pt``'s ensemble. ``base``'s ``training.json`` stays the
    record of the head files, with this run's record added under ``ensemble_members``.
    """
    from liver3d.networks import ensemble_members

    keep, sources, ensembles = {}, {}, {}
    base_training = json.loads((base / "training.json").read_text(encoding="utf-8"))
    added = {}
    for stage in STAGES:
        members = [Path(m) for m in ensemble_members(base / f"{stage}.pt")]
        names = [m.stem for m in members]
        keep.update({m.stem: m for m in members})
        if stage in trained:
            name = f"{stage}_m{len(members) + 1}"
            sources[name] = work / "bundle" / "models" / stage / "model.pt"
            names.append(name)
            added[name] = {**record, "stages": {stage: record["stages"][stage]}}
        if len(names) > 1:
            ensembles[stage] = names
    training = {
        **base_training,
        "ensemble_members": {**base_training.get("ensemble_members", {}), **added},
    }
    return keep, sources, ensembles, training


def generator_version(folder: Path) -> str:
    return json.loads((folder / "dataset.json").read_text(encoding="utf-8")).get("generator_version", "?")


def _cases(folder: Path) -> int:
    return len(json.loads((folder / "dataset.json").read_text(encoding="utf-8")).get("training", []))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work)
    if not work.is_absolute():
        work = ROOT / work
    for folder, flag in ((args.ensemble_with, "--ensemble-with"), (args.init_from, "--init-from")):
        missing = [
            n for n in ("manifest.json", "training.json") if folder and not (Path(folder) / n).is_file()
        ]
        if missing:  # checked before hours of training, not at export
            raise SystemExit(f"{flag} {folder}: not a release folder (no {' or '.join(missing)})")
    make_phantoms(work / "phantoms_train", args.cases, args.seed, args.matrix, args.workers)
    make_phantoms(work / "phantoms_val", args.val_cases, args.val_seed, args.matrix, args.workers)
    if set(args.stages) != set(STAGES) and not args.init_from:
        raise SystemExit("--stages without every stage needs --init-from for the stages it does not train")
    records = {}
    for stage in STAGES:
        if stage in args.stages:
            records[stage] = train_stage(stage, args, work)
            if args.init_from and not args.from_scratch:
                records[stage]["started_from"] = previous_record(
                    Path(args.init_from), stage, args.init_member
                )
        else:
            records[stage] = previous_record(Path(args.init_from), stage)
    if not args.skip_export:
        export(args, work, records)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
