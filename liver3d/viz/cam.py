"""PNG overlays of CAM volumes: CT with the reference contour, and the CAM heatmap with the pseudo-mask contour.

Each row is one case, on the axial slice where the reference structure is largest, in radiological view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from liver3d.io.readers import read_volume  # noqa: E402
from liver3d.viz.figures import save_figure  # noqa: E402
from liver3d.viz.montage import radiological_view  # noqa: E402
from liver3d.windows import window_bounds  # noqa: E402


def save_cam_overlays(
    rows: Sequence[tuple[str, str | Path, str | Path, str | Path]],
    reference_values: Sequence[int],
    threshold: float,
    out_png: str | Path,
    pseudo_mask: Callable[[np.ndarray], np.ndarray],
    window: str = "abdomen",
) -> Path:
    """``rows``: (title, CT path, label path, CAM NIfTI path); ``pseudo_mask`` turns a CAM volume (RAS) into
    its 3D pseudo-mask at ``threshold`` (the caller's rule: this module only draws)."""
    lower, upper = window_bounds(window)
    fig, axes = plt.subplots(len(rows), 2, figsize=(7.5, 3.8 * len(rows)), squeeze=False)
    for (title, image_path, label_path, cam_path), (ax_ct, ax_cam) in zip(rows, axes):
        ct = read_volume(image_path).as_float32().to_ras()
        ct_ras, spacing = ct.array, ct.spacing
        reference = np.isin(read_volume(label_path).to_ras().array, list(reference_values))
        cam_ras = read_volume(cam_path).as_float32().to_ras().array
        z = int(reference.sum(axis=(0, 1)).argmax())
        aspect = spacing[1] / spacing[0]
        ref_slice = radiological_view(reference[:, :, z])
        cam_slice = radiological_view(cam_ras[:, :, z])
        mask = radiological_view(pseudo_mask(cam_ras)[:, :, z])
        for ax in (ax_ct, ax_cam):
            ax.imshow(radiological_view(ct_ras[:, :, z]), cmap="gray", vmin=lower, vmax=upper, aspect=aspect)
            ax.axis("off")
        ax_ct.contour(ref_slice, levels=[0.5], colors=["yellow"], linewidths=1.0)
        ax_ct.set_title(f"{title}\nreference (yellow), z={z}", fontsize=8)
        ax_cam.imshow(cam_slice, cmap="jet", alpha=0.45, vmin=0, vmax=1, aspect=aspect)
        ax_cam.contour(ref_slice, levels=[0.5], colors=["yellow"], linewidths=0.8)
        if mask.any():
            ax_cam.contour(mask, levels=[0.5], colors=["white"], linewidths=1.0, linestyles="dashed")
        ax_cam.set_title(f"CAM, pseudo-mask at {threshold:.2f} (white)", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_png)


def plot_cam_layers(
    image: np.ndarray, cams: dict[str, np.ndarray], out_png: str | Path, title: str = ""
) -> Path:
    """Seed 002's multi-layer Grad-CAM panel: the image, then each layer's CAM over it (2D, (H, W) arrays)."""
    n = len(cams) + 1
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), squeeze=False)
    axes = axes[0]
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title(title or "image", fontsize=8)
    for ax, (layer, cam) in zip(axes[1:], cams.items()):
        ax.imshow(image, cmap="gray")
        ax.imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(layer, fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, out_png)


def plot_cam_regions(
    image: np.ndarray,
    cam: np.ndarray,
    regions: Sequence[dict],
    out_png: str | Path,
    title: str = "",
    reference_box: Sequence[float] | None = None,
) -> Path:
    """Seed 004's view: the image with the hot regions' contours and boxes (green), next to the heatmap.

    Coordinates are pixel-edge units of ``image`` (see :mod:`liver3d.cam.regions`); ``reference_box``
    (yellow, dashed) is the lesion's box when a mask is known.
    """
    from matplotlib.patches import Rectangle

    fig, (ax_box, ax_cam) = plt.subplots(1, 2, figsize=(6.4, 3.4))
    extent = (0, image.shape[1], image.shape[0], 0)  # pixel edges, as the coordinates
    for ax in (ax_box, ax_cam):
        ax.imshow(image, cmap="gray", extent=extent)
        ax.axis("off")
    ax_cam.imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1, extent=extent)
    for region in regions:
        x0, y0, x1, y1 = region["bbox_xyxy"]
        outline = np.asarray(region["contour_xy"])
        ax_box.plot(outline[:, 0], outline[:, 1], color="lime", lw=1.0)
        ax_box.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="lime", lw=1.2))
    if reference_box is not None:
        x0, y0, x1, y1 = reference_box
        ax_box.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="yellow", lw=1.0, ls="--"))
    ax_box.set_title(title or "hot regions", fontsize=8)
    ax_cam.set_title("Grad-CAM", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_png)
