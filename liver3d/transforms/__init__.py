"""liver3d transforms: array transforms with thin dictionary wrappers, as MONAI's own."""

from liver3d.transforms.augment import (
    RandTissueHUShift,
    RandTissueHUShiftd,
    RandWindowHU,
    RandWindowHUd,
    tissue_values,
)
from liver3d.transforms.discrete import (
    ChannelArgmax,
    ChannelArgmaxd,
    FillLiverHoles,
    FillLiverHolesd,
    RemoveSmallLesions,
    RemoveSmallLesionsd,
    TumorPresenced,
)
from liver3d.transforms.intensity import MultiWindowHU, MultiWindowHUd, WindowHU, WindowHUd
from liver3d.transforms.io import LoadVolumed, ValidateCTd
from liver3d.transforms.patches import BalancedPatchd
from liver3d.transforms.pipelines import ct_preprocessing, geometry_transforms
from liver3d.transforms.resample import ResampleToInputd, resample_labels_nearest
from liver3d.transforms.roi import LabelSelector, LiverROICropd, MaskOutsideLiverd
from liver3d.transforms.slicing import VolumeToSlices, VolumeToSlicesd, slice_labels, stack_slices

__all__ = [
    "BalancedPatchd",
    "ChannelArgmax",
    "ChannelArgmaxd",
    "FillLiverHoles",
    "FillLiverHolesd",
    "LabelSelector",
    "LiverROICropd",
    "LoadVolumed",
    "MaskOutsideLiverd",
    "MultiWindowHU",
    "MultiWindowHUd",
    "RandTissueHUShift",
    "RandTissueHUShiftd",
    "RandWindowHU",
    "RandWindowHUd",
    "RemoveSmallLesions",
    "RemoveSmallLesionsd",
    "ResampleToInputd",
    "TumorPresenced",
    "ValidateCTd",
    "VolumeToSlices",
    "VolumeToSlicesd",
    "WindowHU",
    "WindowHUd",
    "ct_preprocessing",
    "geometry_transforms",
    "resample_labels_nearest",
    "slice_labels",
    "stack_slices",
    "tissue_values",
]
