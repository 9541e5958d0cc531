"""Ignite handlers for the bundles: training curves (PNG + CSV) and volume metrics on the input grid."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

from liver3d.data.datalist import case_name
from liver3d.evaluation.detection import FROC_THRESHOLDS, format_lesion_tables, summarize_lesions
from liver3d.evaluation.lesions import CaseLesions, score_case_lesions, threshold_matches
from liver3d.evaluation.metrics import StructureScores, format_table, score_case, summarize
from liver3d.evaluation.report import write_csv, write_evaluation, write_lesion_evaluation
from liver3d.geometry import voxel_spacing
from liver3d.labels import load_label_table
from liver3d.viz.figures import save_figure

log = logging.getLogger(__name__)


class TrainingCurves:
    """Record the mean training loss and the validation metrics of every epoch; draw ``training_curves.png``.

    Attach to the trainer, after the ``ValidationHandler`` so this epoch's validation is already in
    ``validator.state.metrics``. Writes ``training_curves.csv`` too (a TensorBoard-free record).
    """

    def __init__(
        self, output_dir: str | Path, validator: Engine | None = None, loss_key: str = "loss"
    ) -> None:
        self.output_dir = Path(output_dir)
        self.validator = validator
        self.loss_key = loss_key
        self.rows: list[dict] = []
        self._losses: list[float] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch)

    def _iteration(self, engine: Engine) -> None:
        output = engine.state.output
        items = output if isinstance(output, list) else [output]
        for item in items[:1]:  # the loss is the batch's, repeated in every decollated item
            if isinstance(item, dict) and self.loss_key in item:
                self._losses.append(float(torch.as_tensor(item[self.loss_key]).detach().cpu()))

    def _epoch(self, engine: Engine) -> None:
        row = {
            "epoch": engine.state.epoch,
            "train_loss": float(np.mean(self._losses)) if self._losses else math.nan,
        }
        self._losses = []
        # Only when the validator ran in this epoch (it keeps its last metrics in between).
        if self.validator is not None and self.validator.state.epoch == engine.state.epoch:
            foreground = [lab.name for lab in load_label_table().foreground]
            for name, value in self.validator.state.metrics.items():
                name = name if name.startswith("val") else f"val_{name}"
                values = torch.as_tensor(value).flatten().tolist()
                if len(values) == 1:
                    row[name] = float(values[0])
                else:  # per-class metrics: one column per foreground label when they line up
                    names = (
                        foreground if len(values) == len(foreground) else [str(i) for i in range(len(values))]
                    )
                    row.update({f"{name}_{n}": float(v) for n, v in zip(names, values)})
        self.rows.append(row)
        self.write()

    def write(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.output_dir.mkdir(parents=True, exist_ok=True)
        keys = sorted({k for r in self.rows for k in r} - {"epoch"})
        write_csv(
            [{k: r.get(k, math.nan) for k in ["epoch", *keys]} for r in self.rows],
            self.output_dir / "training_curves.csv",
        )
        fig, ax = plt.subplots(figsize=(6, 4))
        epochs = [r["epoch"] for r in self.rows]
        ax.plot(epochs, [r["train_loss"] for r in self.rows], "o-", label="train loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax2 = ax.twinx()
        for key in keys:
            if key != "train_loss":
                points = [(r["epoch"], r[key]) for r in self.rows if key in r]
                if points:
                    ax2.plot(*zip(*points), "s--", label=key)
        ax2.set_ylabel("validation metric")
        lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
        ax.legend(lines, labels, loc="center right", fontsize=8)
        fig.tight_layout()
        save_figure(fig, self.output_dir / "training_curves.png")


class _PerCaseScores:
    """Event wiring shared by the scoring handlers: reset when the run starts, score every item of every
    iteration's output (:meth:`_score`), write the tables when it completes (:meth:`_completed`)."""

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, lambda e: self._reset())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _iteration(self, engine: Engine) -> None:
        output = engine.state.output
        for item in output if isinstance(output, list) else [output]:
            self._score(item)

    @staticmethod
    def _case(ref, fallback: str) -> str:
        return case_name(str((getattr(ref, "meta", {}) or {}).get("filename_or_obj", fallback)))

    def _reset(self) -> None:
        raise NotImplementedError

    def _score(self, item: dict) -> None:
        raise NotImplementedError

    def _completed(self, engine: Engine) -> None:
        raise NotImplementedError


class VolumeMetrics(_PerCaseScores):
    """Score every prediction against its reference on the reference's grid (spacing from its affine).

    Attach to an evaluator whose post-processing leaves ``pred_key`` (labels, (1, X, Y, Z), after
    ``Invertd``) and ``label_key`` (the label as loaded, never resampled). On completion writes
    ``metrics_per_case.csv`` and ``metrics_summary.{csv,json,md}`` to ``output_dir`` and prints the table.
    """

    def __init__(
        self, output_dir: str | Path, pred_key: str = "pred", label_key: str = "label_orig", seed: int = 0
    ) -> None:
        self.output_dir = Path(output_dir)
        self.pred_key, self.label_key, self.seed = pred_key, label_key, seed
        self.scores: list[StructureScores] = []

    def _reset(self) -> None:
        self.scores.clear()

    def _score(self, item: dict) -> None:
        pred, ref = item[self.pred_key], item[self.label_key]
        case = self._case(ref, f"case{len(self.scores)}")
        self.scores += score_case(pred.detach().cpu(), ref.detach().cpu(), voxel_spacing(ref), case)

    def _completed(self, engine: Engine) -> None:
        if not self.scores:
            return
        write_evaluation(self.scores, self.output_dir, self.seed)
        log.info("\n%s", format_table(summarize(self.scores, self.seed)))
        log.info("%s", f"per-case metrics: {self.output_dir / 'metrics_per_case.csv'}")


def _affine_of(x) -> np.ndarray:
    affine = getattr(x, "affine", None)
    if affine is None:
        return np.eye(4)
    affine = np.asarray(torch.as_tensor(affine, dtype=torch.float64))
    return affine[0] if affine.ndim == 3 else affine


class LesionMetrics(_PerCaseScores):
    """Lesion-wise detection scores of every prediction (:mod:`liver3d.evaluation.lesions`), beside
    :class:`VolumeMetrics` on the same evaluator.

    ``pred_key`` holds labels on the reference's grid, ``label_key`` the reference as loaded; with
    ``prob_key`` (class probabilities on the same grid, e.g. ``save_probabilities`` in inference.json) the
    tumor channel is thresholded at ``thresholds`` for the FROC curve. On completion writes the files of
    :data:`liver3d.evaluation.report.LESION_FILES` to ``output_dir`` and prints the tables.
    """

    def __init__(
        self,
        output_dir: str | Path,
        pred_key: str = "pred",
        label_key: str = "label",
        prob_key: str | None = None,
        thresholds: tuple[float, ...] = FROC_THRESHOLDS,
        seed: int = 0,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.pred_key, self.label_key, self.prob_key = pred_key, label_key, prob_key
        self.thresholds, self.seed = tuple(float(t) for t in thresholds), seed
        self.cases: list[CaseLesions] = []
        self.froc: dict[float, list[CaseLesions]] = {}

    def _reset(self) -> None:
        self.cases.clear()
        self.froc.clear()

    def _score(self, item: dict) -> None:
        pred, ref = item[self.pred_key], item[self.label_key]
        case, affine = self._case(ref, f"case{len(self.cases)}"), _affine_of(ref)
        ref_array = np.asarray(ref.detach().cpu())
        self.cases.append(score_case_lesions(np.asarray(pred.detach().cpu()), ref_array, affine, case))
        if self.prob_key and self.prob_key in item:
            tumor = load_label_table().value("tumor")
            prob = np.asarray(item[self.prob_key].detach().cpu(), dtype=np.float32)[tumor]
            ref_3d = ref_array[0] if ref_array.ndim == 4 else ref_array
            for t, matched in threshold_matches(prob, ref_3d, affine, self.thresholds, case).items():
                self.froc.setdefault(t, []).append(matched)

    def _completed(self, engine: Engine) -> None:
        if not self.cases:
            return
        write_lesion_evaluation(self.cases, self.output_dir, self.froc or None, self.seed)
        log.info("\n%s", format_lesion_tables(summarize_lesions(self.cases, seed=self.seed)))
        log.info("%s", f"lesion metrics: {self.output_dir / 'lesions_summary.json'}")


class WallClockBudget:
    """Stop training at the end of the first epoch that finishes after ``minutes`` of wall time.

    The check runs at epoch end, before the epoch-level checkpoint handlers attached after it in the same
    event still save that epoch, so a stopped run resumes from its last epoch (``resume`` in train.json).
    ``minutes`` <= 0 disables the budget.
    """

    def __init__(self, minutes: float) -> None:
        import time

        self.seconds = float(minutes) * 60.0
        self._clock = time.monotonic
        self._start: float | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._check)

    def _started(self, engine: Engine) -> None:
        self._start = self._clock()

    def _check(self, engine: Engine) -> None:
        if self.seconds > 0 and self._start is not None and self._clock() - self._start >= self.seconds:
            engine.logger.info(
                f"wall-clock budget of {self.seconds / 60:.1f} min reached after epoch {engine.state.epoch}"
            )
            engine.terminate()
