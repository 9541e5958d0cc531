"""Integrity checks of image/label pairs before training (as nnU-Net checks a dataset before planning).

Each problem is one :class:`Finding`: a severity, the file and a one-line description. The checks need no
network and no GPU; they read every voxel unless ``header_only`` is set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from liver3d.errors import InputError
from liver3d.geometry import axcodes, same_world_grid
from liver3d.io.readers import VolumeError, read_header, read_volume

# Voxel sizes outside this range (mm) are taken as a broken header rather than a real scan.
SPACING_RANGE_MM = (0.05, 20.0)
# Image and label affines that differ by more than this (mm, or unitless for direction terms) mismatch.
AFFINE_TOLERANCE = 1e-3


class DatasetError(InputError):
    """Inputs of a bundle run that cannot be used: every problem found, one finding each."""


@dataclass(frozen=True)
class Finding:
    severity: str  # "ERROR" or "WARN"
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.severity} {self.path}: {self.problem}"


def _spatial_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Drop trailing singleton dimensions past the third (X, Y, Z, 1 is still 3D)."""
    shape = tuple(shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def check_volume_header(path: str, role: str) -> tuple[list[Finding], object | None]:
    findings: list[Finding] = []
    try:
        header = read_header(path)
    except VolumeError as err:
        return [Finding("ERROR", err.path, err.problem)], None
    shape = _spatial_shape(header.shape)
    if len(shape) == 4:
        findings.append(Finding("ERROR", path, f"4D {role} volume, shape {shape}: expected one 3D volume"))
    elif len(shape) != 3:
        findings.append(
            Finding("ERROR", path, f"{role} has {len(shape)} dimensions, shape {shape}: expected 3D")
        )
    if not np.all(np.isfinite(header.affine)) or abs(np.linalg.det(header.affine[:3, :3])) < 1e-9:
        findings.append(
            Finding("ERROR", path, "degenerate affine (singular or non-finite): geometry unknown")
        )
    else:
        lo, hi = SPACING_RANGE_MM
        spacing = header.spacing[:3]
        if any(not lo <= s <= hi for s in spacing):
            findings.append(
                Finding(
                    "ERROR",
                    path,
                    f"absurd voxel spacing {tuple(round(s, 4) for s in spacing)} mm (expected {lo}-{hi} mm)",
                )
            )
    return findings, header


def check_image_data(path: str, data: np.ndarray) -> list[Finding]:
    findings: list[Finding] = []
    if np.issubdtype(data.dtype, np.floating):
        bad = ~np.isfinite(data)
        if bad.any():
            n_nan, n_inf = int(np.isnan(data).sum()), int(np.isinf(data).sum())
            findings.append(Finding("ERROR", path, f"{n_nan} NaN and {n_inf} infinite voxels"))
            data = data[~bad]
    if data.size == 0:
        return findings
    lo, hi = float(data.min()), float(data.max())
    if lo >= 0 and hi < 5000:
        findings.append(
            Finding(
                "WARN",
                path,
                f"intensities {lo:g}..{hi:g} have no negative values: not Hounsfield units? (air is about -1000 HU)",
            )
        )
    elif lo < -3000 or hi > 40000:
        findings.append(
            Finding(
                "WARN",
                path,
                f"intensities {lo:g}..{hi:g} are outside the CT range: check rescale slope/intercept",
            )
        )
    return findings


def check_label_data(path: str, data: np.ndarray, allowed: Sequence[int], allow_empty: bool) -> list[Finding]:
    findings: list[Finding] = []
    if np.issubdtype(data.dtype, np.floating):
        if not np.all(np.isfinite(data)):
            return [Finding("ERROR", path, "label map holds NaN or infinite values")]
        if not np.all(data == np.round(data)):
            return [Finding("ERROR", path, "label map holds non-integer values (a probability map?)")]
    values = np.unique(data).astype(np.int64)
    unexpected = sorted(set(values.tolist()) - set(int(v) for v in allowed))
    if unexpected:
        shown = ", ".join(str(v) for v in unexpected[:10]) + (" ..." if len(unexpected) > 10 else "")
        findings.append(
            Finding(
                "ERROR",
                path,
                f"label values {shown} outside the declared set {sorted(int(v) for v in allowed)}",
            )
        )
    if not allow_empty and values.max(initial=0) == 0:
        findings.append(Finding("ERROR", path, "label map is empty (background only, no liver)"))
    return findings


def check_pair(
    image: str,
    label: str | None,
    allowed_labels: Sequence[int],
    header_only: bool = False,
    allow_empty: bool = False,
) -> list[Finding]:
    """All findings for one image (and its label, when given)."""
    findings, image_header = check_volume_header(image, "image")
    label_header = None
    if label is not None:
        label_findings, label_header = check_volume_header(label, "label")
        findings += label_findings
    if image_header is not None and label_header is not None:
        ishape, lshape = _spatial_shape(image_header.shape), _spatial_shape(label_header.shape)
        reordered = not np.allclose(image_header.affine, label_header.affine, atol=AFFINE_TOLERANCE) and (
            same_world_grid(image_header.affine, ishape, label_header.affine, lshape, AFFINE_TOLERANCE)
        )
        if reordered:
            findings.append(
                Finding(
                    "ERROR",
                    label,
                    f"label is on the image's grid but stored in another axis order ({axcodes(label_header.affine)}"
                    f" vs the image's {axcodes(image_header.affine)}); save it in the image's voxel order ({image})",
                )
            )
        elif ishape != lshape:
            findings.append(
                Finding("ERROR", label, f"label shape {lshape} does not match image shape {ishape} ({image})")
            )
        elif not np.allclose(image_header.affine, label_header.affine, atol=AFFINE_TOLERANCE):
            diff = float(np.abs(image_header.affine - label_header.affine).max())
            findings.append(
                Finding(
                    "ERROR",
                    label,
                    f"label geometry differs from the image's (affine off by up to {diff:.3g} mm) ({image})",
                )
            )
    if header_only or any(f.severity == "ERROR" and "not found" in f.problem for f in findings):
        return findings
    for path, header, role in ((image, image_header, "image"), (label, label_header, "label")):
        if path is None or header is None:
            continue
        try:
            data = read_volume(path).array
        except VolumeError as err:
            findings.append(Finding("ERROR", err.path, err.problem))
            continue
        if role == "image":
            findings += check_image_data(path, data)
        else:
            findings += check_label_data(path, data, allowed_labels, allow_empty)
    return findings


def check_datalist(
    entries: Iterable[dict],
    allowed_labels: Sequence[int],
    header_only: bool = False,
    allow_empty: bool = False,
) -> list[Finding]:
    """Check every entry (``{"image": ..., "label": ...}`` with resolved paths); duplicates are flagged too."""
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        image = entry.get("image")
        if not image:
            findings.append(Finding("ERROR", f"entry {index}", "no 'image' key"))
            continue
        image = str(image)
        if image in seen:
            findings.append(Finding("ERROR", image, f"listed twice (entries {seen[image]} and {index})"))
            continue
        seen[image] = index
        label = entry.get("label")
        findings += check_pair(image, str(label) if label else None, allowed_labels, header_only, allow_empty)
    return findings


def require_valid_inputs(
    entries: Iterable[dict], allowed_labels: Sequence[int] | None = None, header_only: bool = True
) -> list[dict]:
    """Check a bundle's inputs before any work starts; returns the entries unchanged when they are usable.

    Raises :class:`DatasetError` carrying every ``ERROR`` finding (bundle configs call this through
    :func:`liver3d.bundle_support.checked`, which prints them and stops the run before anything is written).
    """
    from liver3d.labels import load_label_table

    entries = list(entries)
    allowed = list(allowed_labels) if allowed_labels is not None else list(load_label_table().values)
    findings = [f for f in check_datalist(entries, allowed, header_only=header_only) if f.severity == "ERROR"]
    if findings:
        first = findings[0]
        raise DatasetError(first.path, first.problem, [(f.path, f.problem) for f in findings])
    return entries
