"""Attribution maps for segmentation and classification networks, 2D and 3D: Integrated Gradients (Captum) and
occlusion sensitivity (MONAI), for a chosen scalar output such as the mean tumor probability inside a region
(seed 001's ReduceMean target)."""

from liver3d.attribution.maps import METHODS, attribute
from liver3d.attribution.runner import AttributionRunner
from liver3d.attribution.targets import MeanClassProbability

__all__ = ["METHODS", "AttributionRunner", "MeanClassProbability", "attribute"]
