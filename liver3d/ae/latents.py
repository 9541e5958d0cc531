"""Latent vectors of autoencoder patches centred on liver and tumor voxels, how well they separate the two, and
their 2D embedding: ``latents.npz`` (vectors, classes, positions), ``latents.csv`` (the same without the
vectors, plus the embedding) and a t-SNE scatter (UMAP too when ``umap-learn`` is installed) by class."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liver3d.ae.networks import latent_vectors
from liver3d.evaluation.report import write_csv
from liver3d.io.atomic import atomic_path
from liver3d.labels import load_label_table
from liver3d.viz.figures import save_figure


class PatchLatents:
    """Latent codes of the patches of one preprocessed volume (``__call__``), as rows with class and position."""

    def __init__(
        self,
        network: nn.Module,
        patch_size: Sequence[int],
        latent_stride: Sequence[int] | None = None,
        max_latents_per_case: int = 400,
        device: str | torch.device = "cpu",
    ) -> None:
        self.network, self.patch_size = network, [int(p) for p in patch_size]
        self.latent_stride = (
            [int(s) for s in latent_stride] if latent_stride else [max(p // 2, 1) for p in self.patch_size]
        )
        self.max_latents_per_case, self.device = max_latents_per_case, torch.device(device)

    def __call__(self, image: torch.Tensor, label: np.ndarray, case: str, affine: np.ndarray) -> list[dict]:
        """Latent codes of patches centred on liver voxels (grid of ``latent_stride``) and tumor voxels (a grid four
        times finer, as lesions are small), at most ``max_latents_per_case`` / 2 of each."""
        table = load_label_table()
        names = {table.value("liver"): "liver", table.value("tumor"): "tumor"}
        half = [p // 2 for p in self.patch_size]
        padded = np.pad(
            np.asarray(image[0], np.float32), [(h, p - h) for h, p in zip(half, self.patch_size)], mode="edge"
        )
        centres = []
        for value, divisor in (
            (table.value("liver"), 1),
            (table.value("tumor"), 4),
        ):  # tumors: a 4x finer grid
            grid = [np.arange(0, n, max(s // divisor, 1)) for n, s in zip(label.shape, self.latent_stride)]
            found = [
                (i, j, k) for i in grid[0] for j in grid[1] for k in grid[2] if int(label[i, j, k]) == value
            ]
            cap = self.max_latents_per_case // 2
            if len(found) > cap:
                found = [found[n] for n in np.linspace(0, len(found) - 1, cap).round().astype(int)]
            centres += found
        rows = []
        for start in range(0, len(centres), 32):
            chunk = centres[start : start + 32]
            patches = np.stack(
                [
                    padded[i : i + self.patch_size[0], j : j + self.patch_size[1], k : k + self.patch_size[2]]
                    for i, j, k in chunk
                ]
            )
            with torch.no_grad():
                codes = (
                    latent_vectors(self.network, torch.from_numpy(patches)[:, None].to(self.device))
                    .cpu()
                    .numpy()
                )
            for (i, j, k), code in zip(chunk, codes):
                lo = [max(c - h, 0) for c, h in zip((i, j, k), half)]
                window = label[
                    lo[0] : lo[0] + self.patch_size[0],
                    lo[1] : lo[1] + self.patch_size[1],
                    lo[2] : lo[2] + self.patch_size[2],
                ]
                rows.append(
                    {
                        "case_id": case,
                        "class": names[int(label[i, j, k])],
                        "tumor_fraction": round(float(np.mean(window == table.value("tumor"))), 4),
                        "centre_voxel": [int(i), int(j), int(k)],
                        "centre_mm": [round(float(v), 2) for v in (affine @ np.array([i, j, k, 1.0]))[:3]],
                        "vector": code,
                    }
                )
        return rows


def write_latents(latents: list[dict], out: Path, embed: bool = True) -> None:
    """``latents.csv``, ``latents.npz`` and one scatter per embedding into ``out`` (nothing without latents)."""
    if not latents:
        return
    vectors = np.stack([r["vector"] for r in latents]).astype(np.float32)
    embeddings = embed_latents(vectors) if embed and len(latents) >= 5 else {}
    meta = [{k: v for k, v in r.items() if k != "vector"} for r in latents]
    for name, coords in embeddings.items():
        for row, xy in zip(meta, coords):
            row[f"{name}_x"], row[f"{name}_y"] = round(float(xy[0]), 4), round(float(xy[1]), 4)
    write_csv(meta, out / "latents.csv")
    with atomic_path(out / "latents.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                vectors=vectors,
                classes=np.array([r["class"] for r in latents]),
                case_ids=np.array([r["case_id"] for r in latents]),
                centre_voxel=np.array([r["centre_voxel"] for r in latents]),
                centre_mm=np.array([r["centre_mm"] for r in latents]),
                tumor_fraction=np.array([r["tumor_fraction"] for r in latents]),
            )
    for name, coords in embeddings.items():
        scatter_latents(coords, [r["class"] for r in latents], out / f"latents_{name}.png", name)


def latent_separability(latents: list[dict], seed: int = 0) -> float:
    """How well the latent code tells tumor-centred from liver-centred patches: balanced accuracy of a logistic
    regression on 50 principal components, cross-validated with whole cases held out (NaN without two classes
    and two cases)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = np.array([r["class"] for r in latents])
    groups = np.array([r["case_id"] for r in latents])
    if len(set(classes)) < 2 or len(set(groups)) < 2:
        return math.nan
    vectors = np.stack([r["vector"] for r in latents])
    folds = GroupKFold(n_splits=min(5, len(set(groups))))
    smallest_fold = min(len(train) for train, _ in folds.split(vectors, classes, groups))
    model = make_pipeline(
        StandardScaler(),
        PCA(n_components=max(1, min(50, vectors.shape[1], smallest_fold - 1)), random_state=seed),
        LogisticRegression(max_iter=2000, class_weight="balanced"),
    )
    try:
        predicted = cross_val_predict(model, vectors, classes, groups=groups, cv=folds)
    except ValueError:  # a training fold with a single class (too few cases)
        return math.nan
    return float(balanced_accuracy_score(classes, predicted))


def embed_latents(vectors: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """2D embeddings: t-SNE (after PCA to at most 50 dimensions), and UMAP when ``umap-learn`` is installed."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    reduced = PCA(n_components=min(50, *vectors.shape), random_state=seed).fit_transform(vectors)
    out = {
        "tsne": TSNE(
            2, perplexity=min(30.0, len(vectors) - 1.0), init="pca", random_state=seed
        ).fit_transform(reduced)
    }
    try:
        import umap  # type: ignore[import-not-found]
    except ImportError:
        return out
    out["umap"] = umap.UMAP(random_state=seed).fit_transform(reduced)
    return out


def scatter_latents(coords: np.ndarray, classes: list[str], path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {lab.name: lab.color_float for lab in load_label_table().foreground}
    fig, ax = plt.subplots(figsize=(5, 5))
    for cls in sorted(set(classes)):
        pick = np.array([c == cls for c in classes])
        ax.scatter(
            coords[pick, 0],
            coords[pick, 1],
            s=6,
            alpha=0.7,
            color=colours.get(cls),
            label=f"{cls} ({pick.sum()})",
        )
    ax.set_title(f"patch latents, {name.upper()}")
    ax.legend(fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    save_figure(fig, path)
