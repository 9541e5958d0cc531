"""Inference helpers: the two-stage cascade inferer and input lists."""

from liver3d.inference.cascade import CascadeInferer, liver_box
from liver3d.inference.inputs import inference_inputs
from liver3d.inference.invert import MapsToInputGrid
from liver3d.inference.mirroring import MirroredPredictor

__all__ = ["CascadeInferer", "MapsToInputGrid", "MirroredPredictor", "inference_inputs", "liver_box"]
