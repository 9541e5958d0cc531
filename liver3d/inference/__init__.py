"""Inference helpers: the two-stage cascade inferer and input lists."""

from liver3d.inference.cascade import CascadeInferer, liver_box
from liver3d.inference.inputs import inference_inputs
from liver3d.inference.invert import MapsToInputGrid

__all__ = ["CascadeInferer", "MapsToInputGrid", "inference_inputs", "liver_box"]
