"""Glue for MONAI's Ignite engines: handlers and checkpoint helpers named by bundle configs, and the map engine
(:mod:`liver3d.engines.maps`) that CAMs, attributions and error maps run under."""

from liver3d.engines.checkpoints import latest_checkpoint, load_model_weights
from liver3d.engines.classification import ClassificationReport, ConfusionMetric, classification_metrics
from liver3d.engines.handlers import LesionMetrics, TrainingCurves, VolumeMetrics, WallClockBudget
from liver3d.engines.maps import (
    CaseLog,
    Collect,
    MapEvaluator,
    MapsToInputGridSaver,
    TablesWriter,
    write_tables,
)

__all__ = [
    "CaseLog",
    "Collect",
    "MapEvaluator",
    "MapsToInputGridSaver",
    "TablesWriter",
    "write_tables",
    "ClassificationReport",
    "ConfusionMetric",
    "TrainingCurves",
    "LesionMetrics",
    "VolumeMetrics",
    "WallClockBudget",
    "classification_metrics",
    "latest_checkpoint",
    "load_model_weights",
]
