"""Glue for MONAI's Ignite engines: handlers and checkpoint helpers named by bundle configs."""

from liver3d.engines.checkpoints import latest_checkpoint, load_model_weights
from liver3d.engines.classification import ClassificationReport, ConfusionMetric, classification_metrics
from liver3d.engines.handlers import TrainingCurves, VolumeMetrics, WallClockBudget

__all__ = [
    "ClassificationReport",
    "ConfusionMetric",
    "TrainingCurves",
    "VolumeMetrics",
    "WallClockBudget",
    "classification_metrics",
    "latest_checkpoint",
    "load_model_weights",
]
