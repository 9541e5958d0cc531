"""Ignite pieces for classifiers: confusion-matrix metrics (balanced accuracy, per-class recall) and a handler
that writes the evaluation report (tables, per-sample CSV, confusion matrix and ROC figures)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.metrics import Metric
from monai.handlers import from_engine

from liver3d.evaluation.binary import format_threshold_table, threshold_report
from liver3d.evaluation.classification import classification_report, format_classification_table
from liver3d.evaluation.report import write_csv
from liver3d.inference.slice_sequence import smooth_by_volume
from liver3d.io.atomic import atomic_path

log = logging.getLogger(__name__)

STATISTICS = ("balanced_accuracy", "accuracy", "recall")
PRED_AND_LABEL = from_engine(["pred", "label"])


def _as_batch(values) -> torch.Tensor:
    if isinstance(values, (list, tuple)):
        return torch.stack([torch.as_tensor(v).detach().cpu() for v in values])
    return torch.as_tensor(values).detach().cpu()


def class_indices(y: torch.Tensor) -> torch.Tensor:
    """Labels given as indices (B,), (B, 1) or one-hot (B, C) -> (B,) long."""
    y = _as_batch(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(1)
    return y.reshape(-1).long()


class ConfusionMetric(Metric):
    """A statistic of the confusion matrix accumulated over an epoch.

    ``statistic``: "balanced_accuracy" (mean recall over the classes present), "accuracy", or "recall" of
    ``class_index``. Predictions are scores (B, C) (logits or probabilities; argmax is taken).
    """

    def __init__(
        self,
        num_classes: int,
        statistic: str = "balanced_accuracy",
        class_index: int | None = None,
        output_transform: Callable = PRED_AND_LABEL,
    ) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        if statistic == "recall" and class_index is None:
            raise ValueError("statistic 'recall' needs a class_index")
        self.num_classes, self.statistic, self.class_index = num_classes, statistic, class_index
        super().__init__(output_transform=output_transform)

    def reset(self) -> None:
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.long)

    def update(self, output) -> None:
        y_pred, y = output
        pred = _as_batch(y_pred)
        pred = pred.reshape(pred.shape[0], -1).argmax(1)
        true = class_indices(y)
        self.confusion += torch.bincount(
            true * self.num_classes + pred, minlength=self.num_classes**2
        ).reshape(self.num_classes, self.num_classes)

    def compute(self) -> float:
        support = self.confusion.sum(1).double()
        recall = self.confusion.diag().double() / support.clamp(min=1)
        if self.statistic == "accuracy":
            return float(self.confusion.diag().sum() / self.confusion.sum().clamp(min=1))
        if self.statistic == "recall":
            return float(recall[self.class_index]) if support[self.class_index] > 0 else float("nan")
        present = support > 0
        return float(recall[present].mean()) if present.any() else float("nan")


def classification_metrics(class_names: Sequence[str], prefix: str = "val_") -> dict[str, ConfusionMetric]:
    """Accuracy plus the recall of every class (the seed's per-class accuracy), for ``additional_metrics``."""
    n = len(class_names)
    metrics = {f"{prefix}accuracy": ConfusionMetric(n, "accuracy")}
    for c, name in enumerate(class_names):
        metrics[f"{prefix}recall_{name}"] = ConfusionMetric(n, "recall", c)
    return metrics


class ClassificationReport:
    """Collect probabilities and labels over an evaluation run and write the report on completion.

    Writes to ``output_dir``: ``classification_report.json`` and ``.md`` (accuracy, balanced accuracy with
    bootstrap CIs, per-class precision/recall/F1/AUC), ``predictions.csv`` (one row per sample, with the
    batch fields named in ``id_keys``), ``confusion_matrix.png`` and ``roc.png``; prints the table. The CIs
    resample patients (the ``group_key`` field, when ``id_keys`` records it), samples otherwise.
    ``pred`` must hold probabilities (apply softmax in post-processing).

    Binary tasks (``positive_class`` given): the report gains a ``binary`` section (AUC with bootstrap CI,
    the Youden-optimal threshold, metrics at 0.5 and at the optimum), ``threshold_table.md`` (seed 002's
    table) and ``roc.png`` marks both operating points. The optimal threshold comes from
    ``threshold_from``: another ``ClassificationReport`` that ran first (on the validation set) or the path
    of its ``classification_report.json``; without it, this set's own optimum (optimistic, and said so).

    ``slice_smoothing`` (slices of a volume, default 0: off): before anything is scored, each slice's split
    between ``liver`` and ``tumor`` becomes the mean over the slices within that many of it in the same volume
    (:func:`liver3d.inference.slice_sequence.smooth_by_volume`; needs ``case_id`` and ``slice_index`` among
    the ``id_keys``). ``predictions.csv`` and every figure show the smoothed probabilities.
    """

    def __init__(
        self,
        output_dir: str | Path,
        class_names: Sequence[str],
        id_keys: Sequence[str] = ("case_id", "slice_index"),
        n_bootstrap: int = 1000,
        seed: int = 0,
        positive_class: str | None = None,
        threshold_from: ClassificationReport | str | Path | None = None,
        default_threshold: float = 0.5,
        group_key: str | None = "patient_id",
        slice_smoothing: int = 0,
    ) -> None:
        if slice_smoothing < 0:
            raise ValueError(f"slice_smoothing must be 0 or more slices, got {slice_smoothing}")
        if slice_smoothing and not {"case_id", "slice_index"} <= set(id_keys):
            raise ValueError("slice_smoothing needs 'case_id' and 'slice_index' among the id_keys")
        if slice_smoothing and not {"liver", "tumor", "background"} <= set(class_names):
            raise ValueError(
                f"slice_smoothing needs classes background, liver and tumor, got {list(class_names)}"
            )
        self.slice_smoothing = int(slice_smoothing)
        self.output_dir = Path(output_dir)
        self.group_key = group_key
        self.class_names = list(class_names)
        self.id_keys, self.n_bootstrap, self.seed = tuple(id_keys), n_bootstrap, seed
        if positive_class is not None and positive_class not in self.class_names:
            raise ValueError(f"positive_class {positive_class!r} is not one of {self.class_names}")
        self.positive_class = positive_class
        self.threshold_from = threshold_from
        self.default_threshold = default_threshold
        self.report: dict | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _reset(self, engine: Engine) -> None:
        self.probs: list[np.ndarray] = []
        self.labels: list[int] = []
        self.ids: list[dict] = []

    def _iteration(self, engine: Engine) -> None:
        output, batch = engine.state.output, engine.state.batch
        outputs = output if isinstance(output, list) else [output]
        batches = batch if isinstance(batch, list) else [None] * len(outputs)
        for item, source in zip(outputs, batches):
            self.probs.append(torch.as_tensor(item["pred"]).detach().cpu().float().reshape(-1).numpy())
            self.labels.append(int(class_indices(torch.as_tensor(item["label"])[None])[0]))
            source = source if isinstance(source, dict) else {}
            self.ids.append({k: _plain(source.get(k, item.get(k))) for k in self.id_keys})

    def _completed(self, engine: Engine) -> None:
        if not self.labels:
            return
        from liver3d.viz.classification import plot_binary_roc, plot_confusion_matrix, plot_roc

        probs = self._smoothed(np.stack(self.probs))
        groups = self._groups()
        report = classification_report(
            self.labels, probs, self.class_names, self.n_bootstrap, self.seed, groups
        )
        report["slice_smoothing"] = self.slice_smoothing
        binary = self._binary(probs, groups) if self.positive_class is not None else None
        if binary is not None:
            report["binary"] = binary
        self.report = report
        out = self.output_dir
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        for ids, label, p in zip(self.ids, self.labels, probs):
            row = dict(ids)
            row.update({"label": self.class_names[label], "pred": self.class_names[int(p.argmax())]})
            row.update({f"p_{name}": round(float(v), 5) for name, v in zip(self.class_names, p)})
            rows.append(row)
        write_csv(rows, out / "predictions.csv")
        plot_confusion_matrix(report["confusion_matrix"], self.class_names, out / "confusion_matrix.png")
        table = format_classification_table(report)
        if binary is None:
            plot_roc(self.labels, probs, self.class_names, out / "roc.png")
        else:
            positive = self.class_names.index(self.positive_class)
            y = (np.asarray(self.labels) == positive).astype(int)
            plot_binary_roc(y, probs[:, positive], binary, out / "roc.png", self.positive_class)
            threshold_table = format_threshold_table(binary, self.positive_class)
            with atomic_path(out / "threshold_table.md") as tmp:
                tmp.write_text(threshold_table + "\n", encoding="utf-8")
            table += "\n\n" + threshold_table
        with atomic_path(out / "classification_report.md") as tmp:
            tmp.write_text(table + "\n", encoding="utf-8")
        with atomic_path(out / "classification_report.json") as tmp:
            tmp.write_text(json.dumps(report, indent=2), encoding="utf-8")
        log.info("\n%s", table)
        log.info("%s", f"report, predictions and figures: {out}")

    def _smoothed(self, probs: np.ndarray) -> np.ndarray:
        if not self.slice_smoothing:
            return probs
        names = self.class_names
        return smooth_by_volume(
            probs,
            [ids["case_id"] for ids in self.ids],
            [int(ids["slice_index"]) for ids in self.ids],
            self.slice_smoothing,
            background=names.index("background"),
            liver=names.index("liver"),
            tumor=names.index("tumor"),
        )

    def _groups(self) -> list | None:
        """Each sample's patient (``group_key`` among the ``id_keys``), so that the CIs resample patients; None
        (resample samples) when the key is not recorded or a sample lacks it."""
        if self.group_key not in self.id_keys:
            return None
        groups = [ids[self.group_key] for ids in self.ids]
        if any(g is None or g == "" for g in groups):
            log.warning("%s missing for some samples: the CIs resample samples, not patients", self.group_key)
            return None
        return groups

    def _binary(self, probs: np.ndarray, groups: list | None = None) -> dict | None:
        positive = self.class_names.index(self.positive_class)
        y = (np.asarray(self.labels) == positive).astype(int)
        if y.min() == y.max():
            log.warning("no ROC: every sample is %s%s", "" if y[0] else "not ", self.positive_class)
            return None
        return threshold_report(
            y,
            probs[:, positive],
            self._chosen_threshold(),
            self.default_threshold,
            self.n_bootstrap,
            self.seed,
            groups,
        )

    def _chosen_threshold(self) -> dict | None:
        source = self.threshold_from
        if source is None:
            return None
        if isinstance(source, ClassificationReport):
            report = source.report
            where = f"the report in {source.output_dir}"
        else:
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: threshold_from report not found")
            report = json.loads(path.read_text(encoding="utf-8"))
            where = str(path)
        if not report or "binary" not in report:
            raise ValueError(f"{where} has no binary section to take the threshold from")
        return report["binary"]["optimum_this_set"]


def _plain(value):
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    return value
