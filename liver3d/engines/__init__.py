"""Glue for MONAI's Ignite engines: handlers and checkpoint helpers named by bundle configs."""

from liver3d.engines.checkpoints import latest_checkpoint, load_model_weights
from liver3d.engines.classification import ClassificationReport, ConfusionMetric, classification_metrics
from liver3d.engines.handlers import LesionMetrics, TrainingCurves, VolumeMetrics, WallClockBudget

__all__ = [
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
