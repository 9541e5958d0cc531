"""What a trained patch autoencoder says about held-out volumes (seed 001, done on volumes and measured):

- reconstruction-error maps (:class:`~liver3d.ae.error_maps.ReconstructionErrorMap`), written as NIfTI on the
  input's grid;
- the error map as a tumor detector inside the liver, on the model's grid: voxel AUROC (tumor vs parenchyma) and
  per-lesion hit rate (a lesion is hit when its mean error exceeds the parenchyma's ``1 - liver_fpr``
  quantile, i.e. a threshold that flags ``liver_fpr`` of normal liver voxels; the mean, not the maximum, so
  a large lesion is not hit by chance);
- latent vectors of patches centred on liver and tumor voxels (``latents.npz``: vectors, classes, positions;
  ``latents.csv``: the same without the vectors, plus the 2D embedding) and a t-SNE scatter (UMAP too when
  ``umap-learn`` is installed) coloured by class.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from sklearn.metrics import roc_auc_score
from torch import nn

from liver3d.ae.error_maps import ReconstructionErrorMap
from liver3d.ae.networks import latent_vectors
from liver3d.data.datalist import case_name
from liver3d.evaluation.report import write_csv
from liver3d.inference.invert import MapsToInputGrid
from liver3d.io.atomic import atomic_path
from liver3d.io.nifti import save_nifti
from liver3d.labels import load_label_table
from liver3d.viz.figures import save_figure

log = logging.getLogger(__name__)


def score_error_map(
    error: np.ndarray, label: np.ndarray, liver_fpr: float = 0.05, max_voxels: int = 2_000_000, seed: int = 0
) -> dict:
    """Voxel AUROC of ``error`` for tumor vs parenchyma, and lesions (3D components) whose mean error exceeds the
    parenchyma's (1 - ``liver_fpr``) quantile."""
    table = load_label_table()
    tumor = label == table.value("tumor")
    parenchyma = label == table.value("liver")
    result = {"tumor_voxels": int(tumor.sum()), "parenchyma_voxels": int(parenchyma.sum())}
    if not parenchyma.any():
        return {**result, "auroc": math.nan, "threshold": math.nan, "lesions": 0, "lesions_hit": 0}
    threshold = float(np.quantile(error[parenchyma], 1 - liver_fpr))
    components, count = ndimage.label(tumor, structure=np.ones((3, 3, 3), bool))
    means = ndimage.mean(error, components, index=np.arange(1, count + 1)) if count else []
    auroc = math.nan
    if tumor.any():
        scores = np.concatenate([error[tumor], error[parenchyma]])
        truth = np.concatenate([np.ones(int(tumor.sum())), np.zeros(int(parenchyma.sum()))])
        if len(scores) > max_voxels:
            pick = np.random.default_rng(seed).choice(len(scores), max_voxels, replace=False)
            scores, truth = scores[pick], truth[pick]
        auroc = float(roc_auc_score(truth, scores))
    return {
        **result,
        "auroc": auroc,
        "threshold": threshold,
        "lesions": int(count),
        "lesions_hit": int(np.sum(np.asarray(means) > threshold)),
    }


class PatchAEAnalysis:
    """Run with :meth:`run`. ``preprocessing`` must give ``image`` and ``label`` on the model's grid."""

    def __init__(
        self,
        network: nn.Module,
        data: Sequence[dict],
        preprocessing: Callable[[dict], dict],
        output_dir: str | Path,
        patch_size: Sequence[int],
        overlap: float = 0.5,
        sw_batch_size: int = 8,
        smoothing_sigma: float = 1.0,
        liver_fpr: float = 0.05,
        latent_stride: Sequence[int] | None = None,
        max_latents_per_case: int = 400,
        device: str | torch.device = "cpu",
        embed: bool = True,
    ) -> None:
        self.network, self.data, self.preprocessing = network, list(data), preprocessing
        self.output_dir, self.patch_size = Path(output_dir), [int(p) for p in patch_size]
        self.overlap, self.sw_batch_size, self.smoothing_sigma = overlap, sw_batch_size, smoothing_sigma
        self.liver_fpr, self.device, self.embed = liver_fpr, torch.device(device), embed
        self.latent_stride = (
            [int(s) for s in latent_stride] if latent_stride else [max(p // 2, 1) for p in self.patch_size]
        )
        self.max_latents_per_case = max_latents_per_case
        self.to_input_grid = MapsToInputGrid(preprocessing)
        self._error_map = ReconstructionErrorMap(
            network, self.patch_size, overlap, sw_batch_size, smoothing_sigma, self.device
        )

    def error_map(self, image: torch.Tensor) -> np.ndarray:
        """Smoothed squared reconstruction error, (X, Y, Z) on the model's grid (:class:`ReconstructionErrorMap`)."""
        return self._error_map(image)

    def latents(self, image: torch.Tensor, label: np.ndarray, case: str, affine: np.ndarray) -> list[dict]:
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

    def run(self) -> dict:
        self.network.eval()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        cases, latents = [], []
        for n, entry in enumerate(self.data):
            case = case_name(str(entry["image"]))
            d = self.preprocessing(dict(entry))
            label = np.asarray(d["label"][0]).astype(np.int16)
            error = self.error_map(d["image"])
            scores = score_error_map(error, label, self.liver_fpr)
            back, affine = self.to_input_grid(d, error[None])
            save_nifti(back[0], affine, self.output_dir / "error_maps" / f"{case}_recon_error.nii.gz")
            model_affine = np.asarray(torch.as_tensor(d["image"].affine), dtype=float)
            latents += self.latents(d["image"], label, case, model_affine)
            cases.append({"case_id": case, **scores})
            log.info(
                "%s",
                f"[{n + 1}/{len(self.data)}] {case}: tumor AUROC {scores['auroc']:.3f}, "
                f"lesions hit {scores['lesions_hit']}/{scores['lesions']}",
            )
        summary = _summary(cases, self.liver_fpr)
        summary["latent_separability"] = latent_separability(latents)
        self._write(cases, summary, latents)
        log.info("\n%s", format_ae_table(cases, summary))
        log.info("%s", f"error maps, latents, embedding and tables: {self.output_dir}")
        return {"cases": cases, "summary": summary}

    def _write(self, cases: list[dict], summary: dict, latents: list[dict]) -> None:
        out = self.output_dir
        write_csv(cases, out / "anomaly_per_case.csv")
        with atomic_path(out / "anomaly_summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
        with atomic_path(out / "anomaly_summary.md") as tmp:
            tmp.write_text(format_ae_table(cases, summary) + "\n", encoding="utf-8")
        if not latents:
            return
        vectors = np.stack([r["vector"] for r in latents]).astype(np.float32)
        embeddings = embed_latents(vectors) if self.embed and len(latents) >= 5 else {}
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
            _scatter(coords, [r["class"] for r in latents], out / f"latents_{name}.png", name)


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


def _scatter(coords: np.ndarray, classes: list[str], path: Path, name: str) -> None:
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


def _summary(cases: list[dict], liver_fpr: float) -> dict:
    aurocs = [c["auroc"] for c in cases if not math.isnan(c["auroc"])]
    lesions = sum(c["lesions"] for c in cases)
    hits = sum(c["lesions_hit"] for c in cases)
    return {
        "cases": len(cases),
        "cases_with_tumor": len(aurocs),
        "mean_auroc": float(np.mean(aurocs)) if aurocs else math.nan,
        "lesions": lesions,
        "lesions_hit": hits,
        "lesion_hit_rate": hits / lesions if lesions else math.nan,
        "liver_false_positive_rate": liver_fpr,
    }


def format_ae_table(cases: list[dict], summary: dict) -> str:
    lines = ["| case | tumor AUROC | lesions hit | threshold |", "|---|---|---|---|"]
    for c in cases:
        lines.append(
            f"| {c['case_id']} | {c['auroc']:.3f} | {c['lesions_hit']}/{c['lesions']} | {c['threshold']:.4f} |"
        )
    lines.append(
        f"| **all** | {summary['mean_auroc']:.3f} (mean of {summary['cases_with_tumor']}) | "
        f"{summary['lesions_hit']}/{summary['lesions']} ({summary['lesion_hit_rate']:.2f}) | "
        f"{summary['liver_false_positive_rate']:.0%} of parenchyma above |"
    )
    if "latent_separability" in summary:
        lines += [
            "",
            f"latent separability (tumor vs liver patches, case-held-out balanced accuracy): "
            f"{summary['latent_separability']:.3f}",
        ]
    return "\n".join(lines)
