"""From files to a written report: read and check the segmentation (and CT), measure, draw, write."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from liver3d.data.datalist import case_name
from liver3d.geometry import Volume
from liver3d.io.readers import VolumeError, read_volume
from liver3d.labels import load_label_table
from liver3d.report.measure import LiverReport, measure
from liver3d.report.render import write_report
from liver3d.viz.composite import save_composite

log = logging.getLogger(__name__)


def _on_label_grid(image: Volume, label: Volume) -> np.ndarray:
    """The voxels of ``image`` in the label's voxel order; a clear error when they are not on one world grid."""
    exact = image.shape[:3] == label.shape and np.allclose(image.affine, label.affine, atol=1e-3)
    voxels = image.in_storage_order_of(label) if exact or image.array.ndim == 3 else None
    if voxels is not None:
        return voxels
    raise VolumeError(
        image.source,
        f"not on the segmentation's grid (shape {image.shape} vs {label.shape}, or affine)",
    )


def build_report(
    segmentation: str | Path,
    out_dir: str | Path,
    image: str | Path | None = None,
    window: str = "abdomen",
    heatmap: str | Path | None = None,
    warnings: list[dict] | None = None,
    source_name: str | None = None,
    image_name: str | None = None,
) -> tuple[LiverReport, dict[str, Path]]:
    """Measure ``segmentation`` (label map: 0 background, 1 liver, 2 tumor) and write the report to ``out_dir``.

    With ``image`` (NIfTI or DICOM series on the same grid) the report adds HU statistics and a composite figure
    (axial, coronal, sagittal through the largest lesion, or the liver's centre); ``heatmap`` (NIfTI on the same
    grid, e.g. a CAM) is drawn over it. ``warnings`` (``{"code", "message"}`` dicts, e.g. from
    :mod:`liver3d.inference.sanity`) are listed in the report. ``source_name`` / ``image_name`` are what the
    report calls the segmentation and the CT (default: their paths), for files read from a private copy.
    """
    label_volume = read_volume(segmentation)
    label, label_affine = np.asarray(label_volume.array), label_volume.affine
    if label.ndim != 3:
        raise VolumeError(segmentation, f"expected a 3D label map, got shape {label.shape}")
    table = load_label_table()
    unknown = sorted(set(np.unique(label).tolist()) - {lab.value for lab in table.labels})
    if unknown:
        raise VolumeError(
            segmentation,
            f"label values {unknown} are not in the label table (0 background, 1 liver, 2 tumor)",
        )
    ct = None
    if image is not None:
        ct = _on_label_grid(read_volume(image).as_float32(), label_volume)
        if not np.isfinite(ct).all():
            raise VolumeError(image, "contains NaN or infinite values")
    report = measure(
        label,
        label_affine,
        ct,
        source_name or str(segmentation),
        image_name or (str(image) if image else None),
    )
    report.warnings = list(warnings or [])
    images = []
    if ct is not None:
        heat = None
        if heatmap is not None:
            heat = _on_label_grid(read_volume(heatmap).as_float32(), label_volume)
        if report.lesions:
            point, what = report.lesions[0].centroid_voxel_ras, "largest lesion"
        else:
            point, what = _liver_centre(label, label_affine), "liver centre"
        name = case_name(str(segmentation))
        images.append(
            save_composite(
                ct,
                label,
                label_affine,
                Path(out_dir) / f"{name}_planes.png",
                point,
                heat,
                window,
                title=f"{name}: planes through the {what}",
            )
        )
    return report, write_report(report, out_dir, images)


def _liver_centre(label: np.ndarray, affine) -> list[float]:
    from scipy import ndimage

    from liver3d.geometry import to_ras

    lab_ras, _ = to_ras(label, affine)
    mask = lab_ras > 0
    return list(ndimage.center_of_mass(mask)) if mask.any() else [(n - 1) / 2 for n in lab_ras.shape]


def reports_for_outputs(
    data: list[dict], output_dir: str | Path, suffix: str = "_seg.nii.gz", window: str = "abdomen"
) -> list[Path]:
    """A report per segmented case of a bundle run: ``<output_dir>/<case>_report/`` from ``<case>_seg.nii.gz``
    and the case's CT. Returns the report folders; cases without a segmentation file are named and skipped."""
    folders = []
    for entry in data:
        case = case_name(str(entry["image"]))
        seg = Path(output_dir) / f"{case}{suffix}"
        if not seg.is_file():
            log.warning("no segmentation for %s at %s; no report", case, seg)
            continue
        report, paths = build_report(seg, Path(output_dir) / f"{case}_report", entry["image"], window)
        log.info(
            "%s",
            f"{case}: liver {report.liver_volume_ml:.0f} mL, {report.lesion_count} lesion(s), burden "
            f"{report.tumor_burden_percent:.1f}% -> {paths['html']}",
        )
        folders.append(paths["html"].parent)
    return folders
