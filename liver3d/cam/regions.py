"""Hot regions of a 2D CAM as contours and bounding boxes (seed 004's contour/box view), in pixel coordinates.

The CAM is thresholded (optionally cleaned with :func:`~liver3d.cam.pseudomask.cam_to_mask`'s opening and
closing), split into 8-connected components, and each component described by its bounding box
``[x_min, y_min, x_max, y_max]``, its outline polygon ``[[x, y], ...]`` (simplified to half a pixel), area,
peak value and position. Coordinates are in pixel-edge units: pixel (row i, column j) covers
x in [j, j + 1] and y in [i, i + 1], so ``x_max - x_min`` is the width in pixels.
``scale`` maps the coordinates back to the original image when the CAM was computed on a resized copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage import measure

from liver3d.cam.pseudomask import cam_to_mask


def hot_regions(
    cam: np.ndarray,
    threshold: float = 0.5,
    min_area: int = 4,
    opening_radius: int = 0,
    closing_radius: int = 0,
    scale: tuple[float, float] = (1.0, 1.0),
) -> list[dict]:
    """Components of ``cam >= threshold`` (CAM in [0, 1]), largest peak first.

    Args:
        min_area: components with fewer pixels (at CAM resolution) are dropped.
        scale: (sy, sx) multiplying the coordinates: original size / CAM size.
    """
    cam = np.asarray(cam, dtype=np.float32)
    if cam.ndim != 2:
        raise ValueError(f"expected a 2D CAM, got shape {cam.shape}")
    mask = cam_to_mask(cam, threshold, opening_radius, closing_radius, normalize=False)
    labels = measure.label(mask, connectivity=2)
    sy, sx = scale
    regions = []
    for region in measure.regionprops(labels, intensity_image=cam):
        if region.area < min_area:
            continue
        r0, c0, r1, c1 = region.bbox
        component = labels == region.label
        peak = np.unravel_index(np.argmax(np.where(component, cam, -1)), cam.shape)
        regions.append(
            {
                "bbox_xyxy": [round(c0 * sx, 2), round(r0 * sy, 2), round(c1 * sx, 2), round(r1 * sy, 2)],
                "contour_xy": _outline(component, sx, sy),
                "area_px": round(float(region.area * sx * sy), 2),
                "peak": round(float(cam[peak]), 4),
                "peak_xy": [round((int(peak[1]) + 0.5) * sx, 2), round((int(peak[0]) + 0.5) * sy, 2)],
                "mean_cam": round(float(region.intensity_mean), 4),
            }
        )
    return sorted(regions, key=lambda r: (-r["peak"], -r["area_px"]))


def mask_box(mask: np.ndarray) -> list[float] | None:
    """Bounding box ``[x_min, y_min, x_max, y_max]`` (pixel edges) of a binary mask; None when empty."""
    rows, cols = np.nonzero(np.asarray(mask, bool))
    if rows.size == 0:
        return None
    return [float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x_min, y_min, x_max, y_max]`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _outline(component: np.ndarray, sx: float, sy: float) -> list[list[float]]:
    """The component's outer boundary as a closed polygon of (x, y) points (pixel-edge units)."""
    padded = np.pad(component.astype(np.float32), 1)
    contours = measure.find_contours(padded, 0.5)
    longest = max(contours, key=len) - 1  # undo the padding
    polygon = measure.approximate_polygon(longest, tolerance=0.5)
    return [[round((float(c) + 0.5) * sx, 2), round((float(r) + 0.5) * sy, 2)] for r, c in polygon]
