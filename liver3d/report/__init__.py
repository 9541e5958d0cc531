"""Structured, deterministic reports of liver segmentations: liver volume, lesions (3D connected components) with
volume, longest axial diameter, centroid, slice range, position and mean HU, tumor burden; JSON, Markdown, HTML
and composite overlay figures. ``python -m liver3d.report SEGMENTATION [--image CT]``."""

from liver3d.report.build import build_report, reports_for_outputs
from liver3d.report.measure import Lesion, LiverReport, longest_axial_diameter, measure
from liver3d.report.render import to_markdown, write_report

__all__ = [
    "Lesion",
    "LiverReport",
    "build_report",
    "longest_axial_diameter",
    "measure",
    "reports_for_outputs",
    "to_markdown",
    "write_report",
]
