"""Composite figures: axial, coronal and sagittal planes through one point, CT with liver (green) and tumor
(red) fills and contours, and an optional heatmap (CAM, attribution, reconstruction error) over them.

All three planes are shown as radiologists read them: patient's right on the image's left, anterior (axial) or
superior (coronal, sagittal) at the top; pixels keep their physical aspect ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from liver3d.geometry import to_ras  # noqa: E402
from liver3d.viz.figures import save_figure  # noqa: E402
from liver3d.viz.montage import draw_overlay, radiological_view  # noqa: E402
from liver3d.windows import window_bounds  # noqa: E402


def planes_through(volume_ras: np.ndarray, point: Sequence[int]) -> dict[str, np.ndarray]:
    """The axial (X, Y), coronal (X, Z) and sagittal (Y, Z) slices of a RAS volume through ``point``."""
    x, y, z = (int(round(p)) for p in point)
    return {"axial": volume_ras[:, :, z], "coronal": volume_ras[:, y, :], "sagittal": volume_ras[x, :, :]}


def _draw_heatmap(ax, plane: np.ndarray, volume: np.ndarray, aspect: float) -> None:
    """Signed maps (attributions) in a blue-white-red scale centred on 0, others (CAMs, errors) in jet; values
    below 5% of the volume's largest magnitude stay transparent so the anatomy shows through."""
    peak = float(np.abs(volume).max()) or 1.0
    view = np.ma.masked_where(np.abs(plane) < 0.05 * peak, plane)
    if float(volume.min()) < 0:
        cmap, vmin, vmax = "RdBu_r", -peak, peak
    else:
        cmap, vmin, vmax = "jet", 0.0, peak
    ax.imshow(radiological_view(view), cmap=cmap, alpha=0.55, aspect=aspect, vmin=vmin, vmax=vmax)


def save_composite(
    image: np.ndarray,
    label: np.ndarray | None,
    affine: np.ndarray,
    out_png: str | Path,
    point_ras: Sequence[float] | None = None,
    heatmap: np.ndarray | None = None,
    window: str = "abdomen",
    title: str = "",
) -> Path:
    """Three planes through ``point_ras`` (RAS voxel index; default: the volume's centre); written atomically."""
    ct_ras, spacing = to_ras(np.asarray(image, dtype=np.float32), affine)
    lab_ras = to_ras(np.asarray(label), affine)[0] if label is not None else None
    heat_ras = to_ras(np.asarray(heatmap, dtype=np.float32), affine)[0] if heatmap is not None else None
    point = point_ras if point_ras is not None else [(n - 1) / 2 for n in ct_ras.shape]
    sx, sy, sz = spacing
    aspects = {"axial": sy / sx, "coronal": sz / sx, "sagittal": sz / sy}
    lower, upper = window_bounds(window)
    cts = planes_through(ct_ras, point)
    labs = planes_through(lab_ras, point) if lab_ras is not None else {}
    heats = planes_through(heat_ras, point) if heat_ras is not None else {}
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for ax, plane in zip(axes, ("axial", "coronal", "sagittal")):
        draw_overlay(ax, cts[plane], labs.get(plane), (lower, upper), aspects[plane])
        if plane in heats:
            _draw_heatmap(ax, heats[plane], heat_ras, aspects[plane])
        index = {"axial": 2, "coronal": 1, "sagittal": 0}[plane]
        ax.set_title(f"{plane} (index {int(round(point[index]))})", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_png)
