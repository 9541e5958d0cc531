"""Inference helpers: the two-stage cascade inferer and input lists."""

from liver3d.inference.cascade import CascadeInferer, liver_box
from liver3d.inference.inputs import image_inputs, inference_inputs, require_labels, with_label_input
from liver3d.inference.invert import MapsToInputGrid
from liver3d.inference.mirroring import MirroredPredictor
from liver3d.inference.slice_sequence import smooth_by_volume, smooth_liver_tumor_calls

__all__ = [
    "CascadeInferer",
    "MapsToInputGrid",
    "MirroredPredictor",
    "image_inputs",
    "inference_inputs",
    "liver_box",
    "require_labels",
    "smooth_by_volume",
    "smooth_liver_tumor_calls",
    "with_label_input",
]
