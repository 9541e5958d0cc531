"""Class activation maps (2D and 3D) and CAM-based pseudo-masks."""

from liver3d.cam.evaluator import CamEvaluator, CamStructure
from liver3d.cam.gradcam import compute_cam, compute_cams, layer_by_name
from liver3d.cam.pseudomask import cam_to_mask, dice, iou, normalize_cam, sweep_thresholds
from liver3d.cam.scoring import CamScores, format_cam_table, seed_thresholds

__all__ = [
    "CamEvaluator",
    "CamScores",
    "CamStructure",
    "cam_to_mask",
    "compute_cam",
    "compute_cams",
    "dice",
    "format_cam_table",
    "iou",
    "layer_by_name",
    "normalize_cam",
    "seed_thresholds",
    "sweep_thresholds",
]
