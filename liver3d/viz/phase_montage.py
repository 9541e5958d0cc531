"""One figure per contrast phase: axial and coronal slices of phantoms, optionally beside real CTs.

Rows are phases (non-contrast, arterial, portal venous, delayed); each row shows a phantom of that phase
through its liver in the abdominal window (-160..240 HU), the way a radiologist reads it (patient's right on
the left, anterior up), with the lesion outlines in the label table's tumor colour. Real CT volumes given
with ``real`` are shown in an extra row for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from liver3d.geometry import to_ras  # noqa: E402
from liver3d.io.atomic import atomic_path  # noqa: E402
from liver3d.labels import load_label_table  # noqa: E402
from liver3d.viz.montage import radiological_view  # noqa: E402

WINDOW_HU = (-160.0, 240.0)


def _axial(ct: np.ndarray, label: np.ndarray | None) -> int:
    if label is not None and (label == 2).any():
        return int(np.argmax((label == 2).sum(axis=(0, 1))))
    if label is not None and (label > 0).any():
        return int(np.argmax((label > 0).sum(axis=(0, 1))))
    return ct.shape[2] // 2


def _show(ax, image: np.ndarray, label: np.ndarray | None, aspect: float, title: str) -> None:
    ax.imshow(np.clip(image, *WINDOW_HU), cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], aspect=aspect)
    if label is not None and (label == 2).any():
        colour = load_label_table().by_name("tumor").color_float
        ax.contour((label == 2).astype(float), levels=[0.5], colors=[colour], linewidths=0.6)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def save_phase_montage(
    cases: Sequence[tuple[str, np.ndarray, np.ndarray | None, np.ndarray]],
    path: str | Path,
    columns: int = 3,
) -> Path:
    """Write a grid of axial + coronal views, one row per case group.

    Args:
        cases: ``(title, ct HU, label or None, affine)`` tuples; rows are filled ``columns`` cases at a time.
        path: the PNG to write.
    """
    rows = int(np.ceil(len(cases) / columns))
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(3.0 * columns * 2 * 0.75, 2.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for index, (title, ct, label, affine) in enumerate(cases):
        ct_ras, spacing = to_ras(np.asarray(ct, dtype=np.float32), affine)
        lab_ras = to_ras(np.asarray(label), affine)[0] if label is not None else None
        k = _axial(ct_ras, lab_ras)
        row, col = divmod(index, columns)
        axial = radiological_view(ct_ras[:, :, k])
        axial_lab = radiological_view(lab_ras[:, :, k]) if lab_ras is not None else None
        _show(axes[row, 2 * col], axial, axial_lab, spacing[1] / spacing[0], f"{title} (axial)")
        j = (
            ct_ras.shape[1] // 2
            if lab_ras is None or not (lab_ras > 0).any()
            else int(np.argmax((lab_ras > 0).sum(axis=(0, 2))))
        )
        coronal = np.flipud(ct_ras[::-1, j, :].T)
        coronal_lab = np.flipud(lab_ras[::-1, j, :].T) if lab_ras is not None else None
        _show(axes[row, 2 * col + 1], coronal, coronal_lab, spacing[2] / spacing[0], f"{title} (coronal)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
