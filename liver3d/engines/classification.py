"""Ignite pieces for classifiers: confusion-matrix metrics (balanced accuracy, per-class recall) and a handler
that writes the evaluation report (tables, per-sample CSV, confusion matrix and ROC figures)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from ignite.metrics import Metric
from monai.handlers import from_engine

from liver3d.evaluation.classification import classification_report, format_classification_table
from liver3d.evaluation.report import write_csv
from liver3d.io.atomic import atomic_path

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
    batch fields named in ``id_keys``), ``confusion_matrix.png`` and ``roc.png``; prints the table.
    ``pred`` must hold probabilities (apply softmax in post-processing).
    """

    def __init__(
        self,
        output_dir: str | Path,
        class_names: Sequence[str],
        id_keys: Sequence[str] = ("case_id", "slice_index"),
        n_bootstrap: int = 1000,
        seed: int = 0,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.class_names = list(class_names)
        self.id_keys, self.n_bootstrap, self.seed = tuple(id_keys), n_bootstrap, seed
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
        from liver3d.viz.classification import plot_confusion_matrix, plot_roc

        probs = np.stack(self.probs)
        report = classification_report(self.labels, probs, self.class_names, self.n_bootstrap, self.seed)
        self.report = report
        out = self.output_dir
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "classification_report.json") as tmp:
            tmp.write_text(json.dumps(report, indent=2))
        table = format_classification_table(report)
        with atomic_path(out / "classification_report.md") as tmp:
            tmp.write_text(table + "\n")
        rows = []
        for ids, label, p in zip(self.ids, self.labels, probs):
            row = dict(ids)
            row.update({"label": self.class_names[label], "pred": self.class_names[int(p.argmax())]})
            row.update({f"p_{name}": round(float(v), 5) for name, v in zip(self.class_names, p)})
            rows.append(row)
        write_csv(rows, out / "predictions.csv")
        plot_confusion_matrix(report["confusion_matrix"], self.class_names, out / "confusion_matrix.png")
        plot_roc(self.labels, probs, self.class_names, out / "roc.png")
        print(table)
        print(f"report, predictions and figures: {out}")


def _plain(value):
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    return value
