"""Datalists (CT volumes, labelled 2D images), patient-level splits and dataset integrity checks."""

from liver3d.data.checks import Finding, check_datalist, check_pair, require_valid_inputs
from liver3d.data.classes import inverse_frequency_weights, tumor_present, volume_classes
from liver3d.data.datalist import (
    DatalistError,
    datalist_from_folder,
    declared_labels,
    keep_keys,
    load_datalist,
)
from liver3d.data.image_dataset import ImageDataset
from liver3d.data.images2d import image_datalist, require_image_datalist
from liver3d.data.slices import SliceDataset
from liver3d.data.splits import kfold_by_patient, patients, require_nonempty, split_by_patient

__all__ = [
    "DatalistError",
    "Finding",
    "ImageDataset",
    "SliceDataset",
    "check_datalist",
    "check_pair",
    "datalist_from_folder",
    "declared_labels",
    "image_datalist",
    "inverse_frequency_weights",
    "keep_keys",
    "kfold_by_patient",
    "load_datalist",
    "patients",
    "require_image_datalist",
    "require_nonempty",
    "require_valid_inputs",
    "split_by_patient",
    "tumor_present",
    "volume_classes",
]
