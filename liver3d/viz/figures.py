"""Saving matplotlib figures as PNG atomically (temporary file, then rename), creating the folder."""

from __future__ import annotations

from pathlib import Path


def save_figure(fig, path: str | Path, dpi: int = 90) -> Path:
    import matplotlib.pyplot as plt

    from liver3d.io.atomic import atomic_path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)
