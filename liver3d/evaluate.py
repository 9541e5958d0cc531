"""``liver3d evaluate PRED_DIR REF_DIR -o OUT_DIR``: voxel and lesion-wise scores of label maps against references.

Files are paired by case name: a prediction ``<case>_seg.nii.gz`` (what ``liver3d segment`` and the bundle's
inference write) or ``<case>.nii.gz`` in PRED_DIR goes with ``<case>.nii.gz`` in REF_DIR (or in
``REF_DIR/labelsTr``, a dataset folder). A ``<case>_prob.nii.gz`` beside the prediction (class probabilities,
``save_probabilities`` in the bundle) adds the FROC curve. Every pair is read and checked (labels in the label
table, same grid) before anything is written; one bad file stops the run with ``ERROR <file>: <problem>``.

Writes to OUT_DIR: ``metrics_per_case.csv`` / ``metrics_summary.{csv,json,md}`` (Dice, IoU, HD95, ASD, volume
difference per structure, :mod:`liver3d.evaluation.metrics`) and the lesion files of
:data:`liver3d.evaluation.report.LESION_FILES` (:mod:`liver3d.evaluation.lesions`, LiTS's matching rules).
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liver3d.data.checks import check_label_data
from liver3d.errors import InputError
from liver3d.evaluation.detection import FROC_THRESHOLDS, format_lesion_tables
from liver3d.evaluation.lesions import CaseLesions, score_case_lesions, threshold_matches
from liver3d.evaluation.metrics import format_table, score_case
from liver3d.evaluation.report import write_evaluation, write_lesion_evaluation
from liver3d.geometry import Volume
from liver3d.io.readers import VolumeError, read_volume
from liver3d.labels import load_label_table

log = logging.getLogger(__name__)
PRED_SUFFIXES = ("_seg.nii.gz", "_seg.nii", ".nii.gz", ".nii")


class EvaluateInputError(InputError):
    """A prediction, reference or folder ``liver3d evaluate`` cannot use."""


@dataclass
class CasePair:
    case: str
    prediction: Path
    reference: Path
    probabilities: Path | None = None


def _case_of_prediction(path: Path) -> str | None:
    name = path.name
    if name.endswith(("_prob.nii.gz", "_prob.nii")):
        return None
    for suffix in PRED_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def pair_cases(pred_dir: str | Path, ref_dir: str | Path) -> list[CasePair]:
    """Predictions and references paired by case name; an unpaired prediction is an error."""
    pred_dir, ref_dir = Path(pred_dir), Path(ref_dir)
    for folder in (pred_dir, ref_dir):
        if not folder.is_dir():
            raise EvaluateInputError(folder, "folder not found")
    refs = ref_dir / "labelsTr" if (ref_dir / "labelsTr").is_dir() else ref_dir
    pairs = []
    for path in sorted(pred_dir.iterdir()):
        case = _case_of_prediction(path)
        if case is None or not path.is_file():
            continue
        reference = next(
            (refs / f"{case}{s}" for s in (".nii.gz", ".nii") if (refs / f"{case}{s}").is_file()), None
        )
        if reference is None:
            raise EvaluateInputError(path, f"no reference {case}.nii.gz in {refs}")
        prob = next(
            (
                pred_dir / f"{case}_prob{s}"
                for s in (".nii.gz", ".nii")
                if (pred_dir / f"{case}_prob{s}").is_file()
            ),
            None,
        )
        pairs.append(CasePair(case, path, reference, prob))
    if not pairs:
        raise EvaluateInputError(pred_dir, "no predicted label maps (<case>_seg.nii.gz or <case>.nii.gz)")
    return pairs


def _read_labels(path: Path) -> Volume:
    try:
        volume = read_volume(path)
    except VolumeError as err:
        raise EvaluateInputError(path, err.problem) from err
    data = np.asarray(volume.array)
    if data.ndim != 3:
        raise EvaluateInputError(path, f"expected a 3D label map, got shape {data.shape}")
    errors = [
        f for f in check_label_data(str(path), data, load_label_table().values, True) if f.severity == "ERROR"
    ]
    if errors:
        raise EvaluateInputError(path, errors[0].problem)
    return volume.with_array(data.astype(np.int16))


def _on_reference_grid(volume: Volume, ref: Volume) -> np.ndarray:
    """The voxels of ``volume`` in the reference's storage order, or an error when the two grids differ in world
    space."""
    voxels = volume.in_storage_order_of(ref)
    if voxels is None:
        raise EvaluateInputError(
            volume.source, f"grid differs from its reference's (shape {volume.shape[:3]} vs {ref.shape})"
        )
    return voxels


def _read_probabilities(path: Path, ref: Volume) -> np.ndarray:
    try:
        volume = read_volume(path).as_float32()
    except VolumeError as err:
        raise EvaluateInputError(path, err.problem) from err
    data = volume.array
    tumor = load_label_table().value("tumor")
    if data.ndim != 4 or data.shape[3] <= tumor:
        raise EvaluateInputError(
            path, f"expected class probabilities (X, Y, Z, C > {tumor}), got shape {data.shape}"
        )
    if not np.isfinite(data).all():
        raise EvaluateInputError(path, "probabilities hold NaN or infinite values")
    return _on_reference_grid(volume.with_array(data[..., tumor]), ref)


def evaluate(
    pred_dir: str | Path,
    ref_dir: str | Path,
    out_dir: str | Path,
    thresholds: tuple[float, ...] = FROC_THRESHOLDS,
    seed: int = 0,
    n_resamples: int = 2000,
) -> dict[str, Path]:
    """Score every prediction of ``pred_dir``; write the tables to ``out_dir``; return their paths."""
    pairs = pair_cases(pred_dir, ref_dir)
    voxel_scores, lesions = [], []
    froc: dict[float, list[CaseLesions]] = {}
    for pair in pairs:
        reference = _read_labels(pair.reference)
        ref, ref_affine = reference.array, reference.affine
        pred = _on_reference_grid(_read_labels(pair.prediction), reference)
        voxel_scores += score_case(pred, ref, list(reference.spacing), pair.case)  # storage-order spacing
        lesions.append(score_case_lesions(pred, ref, ref_affine, pair.case))
        if pair.probabilities is not None:
            prob = _read_probabilities(pair.probabilities, reference)
            for t, matched in threshold_matches(prob, ref, ref_affine, thresholds, pair.case).items():
                froc.setdefault(t, []).append(matched)
        log.info("scored %s", pair.case)
    if froc and len(froc[next(iter(froc))]) != len(pairs):
        log.warning(
            "FROC over the %d of %d cases that have probabilities", len(froc[next(iter(froc))]), len(pairs)
        )
    out_dir = Path(out_dir)
    paths = write_evaluation(voxel_scores, out_dir, seed)
    paths.update(
        {
            f"lesions_{k}": v
            for k, v in write_lesion_evaluation(lesions, out_dir, froc or None, seed, n_resamples).items()
        }
    )
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liver3d evaluate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "pred_dir", help="folder of predicted label maps (<case>_seg.nii.gz or <case>.nii.gz)"
    )
    parser.add_argument("ref_dir", help="folder of reference label maps (<case>.nii.gz), or a dataset folder")
    parser.add_argument("-o", "--output", required=True, help="folder for the tables and the FROC figure")
    parser.add_argument(
        "--thresholds", type=float, nargs="+", default=list(FROC_THRESHOLDS), help="FROC thresholds"
    )
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap case resamples for the CIs")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        paths = evaluate(
            args.pred_dir, args.ref_dir, args.output, tuple(args.thresholds), args.seed, args.resamples
        )
    except InputError as err:
        print(f"ERROR {err.path}: {err.problem}", file=sys.stderr)
        return 1
    import json

    voxel = json.loads(paths["summary_json"].read_text(encoding="utf-8"))
    lesion = json.loads(paths["lesions_summary_json"].read_text(encoding="utf-8"))
    print(format_table(voxel))
    print()
    print(format_lesion_tables(lesion, lesion.get("froc", [])))
    print(f"\ntables in {Path(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
