"""One displayed slice: a CT plane through a RAS volume, windowed, with label, CAM and contour overlays.

Planes are shown in radiological convention (patient right on the image's left): axial with anterior at
the top, coronal and sagittal with superior at the top. Pixels are resampled to square millimetres so a
5 mm-slice coronal view is not squashed. Colours come from ``configs/labels.json``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from liver3d.labels import load_label_table
from liver3d.viz.montage import radiological_view
from liver3d.windows import window_bounds

PLANES = ("axial", "coronal", "sagittal")
_PLANE_AXIS = {"axial": 2, "coronal": 1, "sagittal": 0}


def plane_count(shape: Sequence[int], plane: str) -> int:
    """How many slices ``plane`` has through a RAS volume of ``shape``."""
    return int(shape[_PLANE_AXIS[plane]])


def plane_slice(volume: np.ndarray, plane: str, index: int) -> np.ndarray:
    """The 2D slice of a RAS (X, Y, Z) volume as displayed (rows top->bottom, columns left->right)."""
    axis = _PLANE_AXIS[plane]
    index = int(np.clip(index, 0, volume.shape[axis] - 1))
    cut = np.take(volume, index, axis=axis)  # axial (X, Y), coronal (X, Z), sagittal (Y, Z)
    return radiological_view(cut)  # the montage's convention, for every plane


def plane_spacing(spacing: Sequence[float], plane: str) -> tuple[float, float]:
    """(row, column) pixel size in mm of a displayed plane."""
    sx, sy, sz = (float(s) for s in spacing)
    return {"axial": (sy, sx), "coronal": (sz, sx), "sagittal": (sz, sy)}[plane]


def window_to_grey(slice_hu: np.ndarray, window: str | tuple[float, float] | None) -> np.ndarray:
    """HU -> [0, 1] through a named window or (lower, upper); ``None`` stretches min..max (2D images)."""
    if window is None:
        lo, hi = float(np.min(slice_hu)), float(np.max(slice_hu))
    elif isinstance(window, str):
        lo, hi = window_bounds(window)
    else:
        lo, hi = window
    return np.clip((slice_hu - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def heat_colors(values: np.ndarray) -> np.ndarray:
    """A jet-like colour ramp (blue -> green -> yellow -> red) of values in [0, 1], shape (..., 3)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    stops = np.array([[0, 0, 0.6], [0, 0.6, 1], [0.2, 1, 0.2], [1, 1, 0], [1, 0.2, 0]], dtype=np.float32)
    pos = v * (len(stops) - 1)
    low = np.floor(pos).astype(int).clip(0, len(stops) - 2)
    frac = pos - low
    return stops[low[..., 0]] * (1 - frac) + stops[low[..., 0] + 1] * frac


def boundary(mask: np.ndarray) -> np.ndarray:
    """The one-pixel inner boundary of a 2D mask."""
    return mask & ~ndimage.binary_erosion(mask)


def compose_slice(
    grey: np.ndarray,
    label: np.ndarray | None = None,
    cam: np.ndarray | None = None,
    show_label: bool = True,
    show_cam: bool = True,
    show_contours: bool = True,
    label_alpha: float = 0.35,
    cam_alpha: float = 0.45,
    cam_threshold: float = 0.5,
) -> np.ndarray:
    """An RGB float image (H, W, 3) of a grey slice with the label fill, the CAM heatmap and contours.

    Contours are the outline of each label (in its colour) and of the CAM above ``cam_threshold`` (white).
    """
    rgb = np.repeat(grey[..., None], 3, axis=-1).astype(np.float32)
    if cam is not None and show_cam:
        heat = np.clip(cam, 0.0, 1.0)
        weight = (cam_alpha * heat)[..., None]
        rgb = rgb * (1 - weight) + heat_colors(heat) * weight
    table = load_label_table()
    if label is not None:
        for lab in table.foreground:
            mask = label == lab.value
            if not mask.any():
                continue
            color = np.array(lab.color_float, dtype=np.float32)
            if show_label:
                rgb[mask] = rgb[mask] * (1 - label_alpha) + color * label_alpha
            if show_contours:
                rgb[boundary(mask)] = color
    if cam is not None and show_contours:
        rgb[boundary(cam >= cam_threshold)] = 1.0
    return np.clip(rgb, 0.0, 1.0)


def to_display(
    rgb: np.ndarray, pixel_mm: tuple[float, float], min_size: int = 384, max_size: int = 768
) -> np.ndarray:
    """uint8 RGB resampled to square millimetres: the finer pixel size is kept, and the longer side lies
    between ``min_size`` and ``max_size`` pixels."""
    rows, cols = rgb.shape[:2]
    height_mm, width_mm = rows * pixel_mm[0], cols * pixel_mm[1]
    longest = max(height_mm, width_mm)
    scale = min(max(min_size / longest, 1.0 / min(pixel_mm)), max_size / longest)  # pixels per mm
    size = (max(1, round(width_mm * scale)), max(1, round(height_mm * scale)))
    image = Image.fromarray((rgb * 255).round().astype(np.uint8))
    return np.asarray(image.resize(size, Image.Resampling.NEAREST))


def draw_boxes(rgb: np.ndarray, boxes: Sequence[Sequence[float]], color=(1.0, 1.0, 0.0)) -> np.ndarray:
    """Outline boxes (x0, y0, x1, y1 in pixel-edge units) on an RGB float image."""
    out = rgb.copy()
    rows, cols = out.shape[:2]
    for x0, y0, x1, y1 in boxes:
        c0, c1 = int(np.clip(np.floor(x0), 0, cols - 1)), int(np.clip(np.ceil(x1) - 1, 0, cols - 1))
        r0, r1 = int(np.clip(np.floor(y0), 0, rows - 1)), int(np.clip(np.ceil(y1) - 1, 0, rows - 1))
        out[r0, c0 : c1 + 1] = color
        out[r1, c0 : c1 + 1] = color
        out[r0 : r1 + 1, c0] = color
        out[r0 : r1 + 1, c1] = color
    return out


def render_volume_slice(
    volume: np.ndarray,
    spacing: Sequence[float],
    plane: str,
    index: int,
    window: str | tuple[float, float] | None,
    label: np.ndarray | None = None,
    cam: np.ndarray | None = None,
    **overlay,
) -> np.ndarray:
    """uint8 RGB of one plane of a RAS CT volume with its overlays (see :func:`compose_slice`)."""
    if plane not in PLANES:
        raise ValueError(f"plane must be one of {PLANES}, got {plane!r}")
    grey = window_to_grey(plane_slice(volume, plane, index), window)
    lab = plane_slice(label, plane, index) if label is not None else None
    heat = plane_slice(cam, plane, index) if cam is not None else None
    rgb = compose_slice(grey, lab, heat, **overlay)
    return to_display(rgb, plane_spacing(spacing, plane))


def largest_lesion_voxel(label: np.ndarray) -> tuple[int, int, int] | None:
    """The RAS voxel at the centre of the largest tumor component, or None without tumor."""
    tumor = label == load_label_table().value("tumor")
    components, count = ndimage.label(tumor)
    if count == 0:
        return None
    sizes = ndimage.sum(tumor, components, range(1, count + 1))
    centre = ndimage.center_of_mass(components == int(np.argmax(sizes)) + 1)
    return tuple(int(round(c)) for c in centre)
