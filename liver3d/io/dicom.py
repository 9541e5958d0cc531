"""Writing a CT volume as a DICOM series (one file per axial slice), e.g. to hand a phantom to a DICOM tool.

The series keeps the volume's geometry: every slice carries its Image Position (Patient), the shared Image
Orientation (Patient), pixel spacing and slice thickness, so a DICOM reader (ITK, 3D Slicer, the viewer's
zipped-series upload) rebuilds the same voxel grid in world millimetres. Values are stored as int16 HU. Every
UID is new and unique (:func:`pydicom.uid.generate_uid`) unless the caller gives the study's or the series' own,
for example to put a scout and a CT in one study.
"""

from __future__ import annotations

import time
from pathlib import Path

import SimpleITK as sitk
from pydicom.uid import generate_uid


def write_dicom_series(
    volume: str | Path,
    folder: str | Path,
    series_description: str = "liver3d",
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> list[Path]:
    """Write the NIfTI ``volume`` as ``folder/slice_0000.dcm`` ...; returns the files in slice order.

    ``study_uid`` / ``series_uid``: the Study and Series Instance UIDs (new ones when not given)."""
    image = sitk.Cast(sitk.ReadImage(str(volume)), sitk.sitkInt16)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d"), time.strftime("%H%M%S")
    direction = image.GetDirection()
    orientation = "\\".join(f"{v:.6f}" for v in (*direction[0:7:3], *direction[1:8:3]))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    shared = {
        "0008|0060": "CT",
        "0008|0020": stamp[0],
        "0008|0030": stamp[1],
        "0008|103e": series_description,
        "0010|0010": "liver3d^phantom",
        "0010|0020": Path(str(volume)).name.split(".")[0],
        "0020|000d": study_uid or generate_uid(),
        "0020|000e": series_uid or generate_uid(),
        "0020|0052": generate_uid(),  # frame of reference: every slice shares the patient coordinate system
        "0020|0037": orientation,
        "0028|1052": "0",  # rescale intercept: stored values are HU
        "0028|1053": "1",
        "0018|0050": f"{image.GetSpacing()[2]:.6f}",
    }
    paths = []
    for z in range(image.GetDepth()):
        piece = image[:, :, z]
        for tag, value in shared.items():
            piece.SetMetaData(tag, value)
        position = image.TransformIndexToPhysicalPoint((0, 0, z))
        piece.SetMetaData("0020|0032", "\\".join(f"{v:.6f}" for v in position))
        piece.SetMetaData("0020|0013", str(z + 1))
        piece.SetMetaData("0008|0018", generate_uid())
        path = folder / f"slice_{z:04d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(piece)
        paths.append(path)
    return paths
