"""Glue for MONAI's Ignite engines: handlers and checkpoint helpers named by bundle configs."""

from liver3d.engines.checkpoints import latest_checkpoint
from liver3d.engines.handlers import TrainingCurves, VolumeMetrics

__all__ = ["TrainingCurves", "VolumeMetrics", "latest_checkpoint"]
