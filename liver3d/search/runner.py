"""Hyper-parameter search over a bundle's training config with Optuna and Hyperband pruning (seed 003).

Each trial runs the bundle's own trainer (MONAI ``ConfigWorkflow`` of the given config files) with the
sampled values as config overrides, for ``trial_epochs`` epochs, into its own folder (no resuming from
another trial). After every validation the key metric is reported to Optuna; the pruner (Hyperband by
default, or successive halving, median, none) stops unpromising trials early. The trial's value is its best
validation metric.

Writes to ``output_dir``: ``trials.csv``, ``best_config.json`` (the winning values, a config file to put
after the study config), ``search_summary.json`` / ``.md`` and ``search_history.png`` (validation metric
per epoch for every trial, pruned ones dashed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events

from liver3d.evaluation.report import write_csv
from liver3d.io.atomic import atomic_path, write_json_atomic
from liver3d.search.space import suggest, validate_space

log = logging.getLogger(__name__)

PRUNERS = ("hyperband", "successive_halving", "median", "none")


class SearchFailed(RuntimeError):
    """A search that ended without a completed trial: ``path`` and ``problem`` as for input errors."""

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class PruningReporter:
    """Reports the validator's ``metric`` to an Optuna trial after each validation; stops a pruned run."""

    def __init__(self, trial, metric: str, maximize: bool = True) -> None:
        self.trial, self.metric, self.maximize = trial, metric, maximize
        self.values: list[float] = []
        self.pruned = False
        self.trainer: Engine | None = None

    def attach(self, trainer: Engine, evaluator: Engine) -> None:
        self.trainer = trainer
        evaluator.add_event_handler(Events.COMPLETED, self._report)

    def _report(self, evaluator: Engine) -> None:
        if self.metric not in evaluator.state.metrics:
            raise KeyError(
                f"search metric {self.metric!r} is not computed by the validator "
                f"(it has {sorted(evaluator.state.metrics)})"
            )
        value = float(evaluator.state.metrics[self.metric])
        step = int(self.trainer.state.epoch) if self.trainer is not None else len(self.values) + 1
        self.values.append(value)
        if math.isfinite(value):
            self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned = True
            if self.trainer is not None:
                self.trainer.terminate()

    @property
    def best(self) -> float:
        finite = [v for v in self.values if math.isfinite(v)]
        if not finite:
            return float("nan")
        return max(finite) if self.maximize else min(finite)


class HyperparameterSearch:
    """Optuna search over ``space`` (see :mod:`liver3d.search.space`) for the bundle ``config_files``.

    Args:
        overrides: config overrides applied to every trial (e.g. the data folder, image size).
        trial_epochs: epochs per trial, Hyperband's maximum resource.
        metric: the validator metric to optimise (the bundle's key metric by default).
        storage: an Optuna storage URL (``sqlite:///search.db``) to keep trials across runs.
    """

    def __init__(
        self,
        config_files: Sequence[str | Path],
        space: Mapping[str, Mapping[str, Any]],
        output_dir: str | Path,
        n_trials: int = 12,
        trial_epochs: int = 9,
        metric: str = "val_balanced_accuracy",
        direction: str = "maximize",
        pruner: str = "hyperband",
        reduction_factor: int = 3,
        seed: int = 0,
        overrides: Mapping[str, Any] | None = None,
        storage: str | None = None,
        study_name: str = "liver3d_search",
    ) -> None:
        if pruner not in PRUNERS:
            raise ValueError(f"pruner must be one of {PRUNERS}, got {pruner!r}")
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
        if n_trials < 1 or trial_epochs < 1:
            raise ValueError(f"n_trials and trial_epochs must be at least 1, got {n_trials}, {trial_epochs}")
        missing = [str(f) for f in config_files if not Path(f).is_file()]
        if missing:
            raise FileNotFoundError(f"config file(s) not found: {', '.join(missing)}")
        self.config_files = [str(f) for f in config_files]
        self.space = validate_space(space)
        self.output_dir = Path(output_dir)
        self.n_trials, self.trial_epochs, self.metric = n_trials, trial_epochs, metric
        self.direction, self.pruner_name, self.reduction_factor = direction, pruner, reduction_factor
        self.seed, self.storage, self.study_name = seed, storage, study_name
        self.overrides = dict(overrides or {})
        self.curves: dict[int, list[float]] = {}

    def _pruner(self):
        import optuna

        if self.pruner_name == "hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=self.trial_epochs, reduction_factor=self.reduction_factor
            )
        if self.pruner_name == "successive_halving":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=1, reduction_factor=self.reduction_factor
            )
        if self.pruner_name == "median":
            return optuna.pruners.MedianPruner(n_warmup_steps=1)
        return optuna.pruners.NopPruner()

    def objective(self, trial) -> float:
        import optuna
        from monai.bundle import ConfigWorkflow

        params = suggest(trial, self.space)
        trial_dir = self.output_dir / f"trial_{trial.number:03d}"
        overrides = dict(self.overrides)
        overrides.update(params)
        overrides.update(
            {
                "max_epochs": self.trial_epochs,
                "ckpt_dir": str(trial_dir / "models"),
                "output_dir": str(trial_dir),
                "resume": False,
                "progress_bar": False,
            }
        )
        log.info("%s", f"trial {trial.number}: {params}")
        workflow = ConfigWorkflow(config_file=self.config_files, workflow_type=None, **overrides)
        workflow.initialize()
        reporter = PruningReporter(trial, self.metric, self.direction == "maximize")
        reporter.attach(
            workflow.parser.get_parsed_content("train#trainer"),
            workflow.parser.get_parsed_content("validate#evaluator"),
        )
        workflow.run()
        workflow.finalize()
        self.curves[trial.number] = reporter.values
        trial.set_user_attr("epochs", len(reporter.values))
        if reporter.pruned:
            raise optuna.TrialPruned(f"pruned after {len(reporter.values)} epoch(s)")
        return reporter.best

    def run(self):
        """Run the trials, write the results; returns the Optuna study."""
        import optuna

        study = optuna.create_study(
            direction=self.direction,
            sampler=optuna.samplers.TPESampler(seed=self.seed),
            pruner=self._pruner(),
            storage=self.storage,
            study_name=self.study_name,
            load_if_exists=self.storage is not None,
        )
        study.optimize(self.objective, n_trials=self.n_trials)
        self.write_results(study)
        return study

    def write_results(self, study) -> dict:
        import optuna

        self.output_dir.mkdir(parents=True, exist_ok=True)
        rows = []
        for t in study.trials:
            row = {
                "trial": t.number,
                "state": t.state.name,
                "value": t.value,
                "epochs": t.user_attrs.get("epochs"),
            }
            row.update(t.params)
            rows.append(row)
        write_csv(rows, self.output_dir / "trials.csv")
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        summary = {
            "metric": self.metric,
            "direction": self.direction,
            "pruner": self.pruner_name,
            "trial_epochs": self.trial_epochs,
            "space": self.space,
            "trials": len(study.trials),
            "complete": len(complete),
            "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
        }
        if complete:
            best = study.best_trial
            summary.update({"best_trial": best.number, "best_value": best.value, "best_params": best.params})
            write_json_atomic(self.output_dir / "best_config.json", best.params)
        write_json_atomic(self.output_dir / "search_summary.json", summary)
        with atomic_path(self.output_dir / "search_summary.md") as tmp:
            tmp.write_text(format_search_table(rows, summary) + "\n", encoding="utf-8")
        self._plot_history(study)
        log.info("\n%s", format_search_table(rows, summary))
        if not complete:
            raise SearchFailed("search", "no trial completed (all pruned or failed); see trials.csv")
        log.info("%s", f"best values: {self.output_dir / 'best_config.json'} (add it after the study config)")
        return summary

    def _plot_history(self, study) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from liver3d.viz.figures import save_figure

        fig, ax = plt.subplots(figsize=(6, 4))
        for t in study.trials:
            values = self.curves.get(t.number) or [
                t.intermediate_values[k] for k in sorted(t.intermediate_values)
            ]
            if values:
                style = "--" if t.state.name == "PRUNED" else "-"
                ax.plot(range(1, len(values) + 1), values, style, marker=".", label=f"trial {t.number}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(self.metric)
        ax.set_title(f"{self.pruner_name} pruning: pruned trials dashed", fontsize=9)
        if len(study.trials) <= 12:
            ax.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, self.output_dir / "search_history.png")


def format_search_table(rows: Sequence[dict], summary: dict) -> str:
    params = list(summary["space"])
    lines = [
        f"{summary['trials']} trials ({summary['complete']} complete, {summary['pruned']} pruned by "
        f"{summary['pruner']}); value = best {summary['metric']} over up to {summary['trial_epochs']} epochs",
        "",
        "| trial | state | epochs | value | " + " | ".join(params) + " |",
        "|---" * (4 + len(params)) + "|",
    ]
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:.4f}"
        cells = [_cell(row.get(p)) for p in params]
        lines.append(
            f"| {row['trial']} | {row['state']} | {row['epochs']} | {value} | " + " | ".join(cells) + " |"
        )
    if "best_trial" in summary:
        lines += ["", f"best: trial {summary['best_trial']}, {summary['metric']} {summary['best_value']:.4f}"]
    return "\n".join(lines)


def _cell(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
