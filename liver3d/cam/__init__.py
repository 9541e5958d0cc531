"""Class activation maps (2D and 3D) and CAM-based pseudo-masks."""

from liver3d.cam.gradcam import compute_cam, compute_cams, layer_by_name
from liver3d.cam.pseudomask import cam_to_mask, dice, iou, normalize_cam, sweep_thresholds

__all__ = [
    "cam_to_mask",
    "compute_cam",
    "compute_cams",
    "dice",
    "iou",
    "layer_by_name",
    "normalize_cam",
    "sweep_thresholds",
]
