"""Datalists, patient-level splits and dataset integrity checks."""

from liver3d.data.checks import Finding, check_datalist, check_pair, require_valid_inputs
from liver3d.data.datalist import (
    DatalistError,
    datalist_from_folder,
    declared_labels,
    keep_keys,
    load_datalist,
)
from liver3d.data.slices import SliceDataset
from liver3d.data.splits import kfold_by_patient, patients, split_by_patient

__all__ = [
    "DatalistError",
    "Finding",
    "SliceDataset",
    "check_datalist",
    "check_pair",
    "datalist_from_folder",
    "declared_labels",
    "keep_keys",
    "kfold_by_patient",
    "load_datalist",
    "patients",
    "require_valid_inputs",
    "split_by_patient",
]
