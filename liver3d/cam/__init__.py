"""Class activation maps (2D and 3D), CAM-based pseudo-masks, and hot-region boxes for 2D images."""

from liver3d.cam.evaluator import CamEvaluator, CamStructure
from liver3d.cam.gradcam import compute_cam, compute_cams, layer_by_name
from liver3d.cam.inference import CamInference
from liver3d.cam.localize2d import CamLocalizer2D
from liver3d.cam.pseudomask import cam_to_mask, dice, iou, normalize_cam, sweep_thresholds
from liver3d.cam.regions import box_iou, hot_regions, mask_box
from liver3d.cam.scoring import CamScores, format_cam_table, seed_thresholds

__all__ = [
    "CamEvaluator",
    "CamInference",
    "CamLocalizer2D",
    "CamScores",
    "CamStructure",
    "box_iou",
    "cam_to_mask",
    "compute_cam",
    "compute_cams",
    "dice",
    "format_cam_table",
    "hot_regions",
    "iou",
    "layer_by_name",
    "mask_box",
    "normalize_cam",
    "seed_thresholds",
    "sweep_thresholds",
]
