"""PNG montages of axial CT slices with the label map drawn over them in the label table's colours.

Slices are shown as radiologists read them: patient's right on the left of the image, anterior at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

from liver3d.geometry import to_ras  # noqa: E402
from liver3d.io.atomic import atomic_path  # noqa: E402
from liver3d.labels import load_label_table  # noqa: E402
from liver3d.windows import window_bounds  # noqa: E402


def radiological_view(slice_ras: np.ndarray) -> np.ndarray:
    """An axial RAS slice (X, Y) as displayed: rows anterior->posterior, columns patient right->left."""
    return slice_ras[::-1, ::-1].T


def pick_slices(label_ras: np.ndarray | None, depth: int, count: int) -> list[int]:
    """Axial slices spread over the liver (and through the largest tumor slice), or over the volume."""
    if label_ras is not None and (label_ras > 0).any():
        z = np.flatnonzero((label_ras > 0).any(axis=(0, 1)))
        picks = list(np.linspace(z[0], z[-1], count + 2)[1:-1].round().astype(int))
        tumor = (label_ras == load_label_table().value("tumor")).sum(axis=(0, 1))
        if tumor.any():
            picks[len(picks) // 2] = int(tumor.argmax())
        return sorted(set(picks))
    return list(np.linspace(0, depth - 1, count + 2)[1:-1].round().astype(int))


def draw_overlay(
    ax, ct_slice: np.ndarray, label_slice: np.ndarray | None, window: tuple[float, float], aspect: float
) -> None:
    ax.imshow(
        radiological_view(ct_slice),
        cmap="gray",
        vmin=window[0],
        vmax=window[1],
        aspect=aspect,
        interpolation="nearest",
    )
    if label_slice is not None:
        view = radiological_view(label_slice)
        for lab in load_label_table().foreground:
            mask = view == lab.value
            if mask.any():
                rgba = np.zeros((*mask.shape, 4))
                rgba[mask] = (*lab.color_float, 0.25)
                ax.imshow(rgba, aspect=aspect, interpolation="nearest")
                ax.contour(mask, levels=[0.5], colors=[lab.color_float], linewidths=0.8)
    ax.axis("off")


def save_montage(
    cases: Sequence[tuple[str | Path, str | Path | None]],
    out_png: str | Path,
    slices_per_case: int = 4,
    window: str = "abdomen",
    titles: Sequence[str] | None = None,
) -> Path:
    """A grid of axial slices (one row per case) with liver/tumor overlays; written atomically."""
    lower, upper = window_bounds(window)
    fig, axes = plt.subplots(
        len(cases), slices_per_case, figsize=(3.2 * slices_per_case, 3.3 * len(cases)), squeeze=False
    )
    for row, (image_path, label_path) in enumerate(cases):
        img = nib.load(str(image_path))
        ct, spacing = to_ras(np.asanyarray(img.dataobj), img.affine)
        lab = None
        if label_path is not None:
            lab_img = nib.load(str(label_path))
            lab, _ = to_ras(np.asanyarray(lab_img.dataobj), lab_img.affine)
        picks = pick_slices(lab, ct.shape[2], slices_per_case)
        for col in range(slices_per_case):
            ax = axes[row, col]
            if col >= len(picks):
                ax.axis("off")
                continue
            k = picks[col]
            draw_overlay(
                ax,
                ct[:, :, k],
                None if lab is None else lab[:, :, k],
                (lower, upper),
                spacing[1] / spacing[0],
            )
            name = titles[row] if titles else Path(str(image_path)).name.split(".")[0]
            ax.set_title(f"{name}  z={k}", fontsize=8)
    legend = [plt.Rectangle((0, 0), 1, 1, color=lab.color_float) for lab in load_label_table().foreground]
    fig.legend(
        legend, [lab.name for lab in load_label_table().foreground], loc="lower center", ncol=len(legend)
    )
    fig.suptitle(
        f"axial slices, {window} window {lower:g}..{upper:g} HU; patient right on image left", fontsize=9
    )
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return Path(out_png)
