"""What a trained patch autoencoder says about held-out volumes (seed 001, done on volumes and measured). This
module runs the analysis (a map producer under :class:`~liver3d.engines.maps.MapEvaluator`); the jobs are
in their own modules: the maps (:mod:`~liver3d.ae.error_maps`), their scoring (:mod:`~liver3d.ae.scoring`)
and the latents (:mod:`~liver3d.ae.latents`):

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

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liver3d.ae.error_maps import ReconstructionErrorMap
from liver3d.ae.latents import PatchLatents, latent_separability, write_latents
from liver3d.ae.scoring import format_ae_table, score_error_map, summarize_cases
from liver3d.engines.maps import CaseLog, Collect, MapEvaluator, MapsToInputGridSaver, write_tables

log = logging.getLogger(__name__)

__all__ = ["PatchAEAnalysis", "score_error_map"]


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
        self._latents = PatchLatents(
            network, self.patch_size, latent_stride, max_latents_per_case, self.device
        )
        self._error_map = ReconstructionErrorMap(
            network, self.patch_size, overlap, sw_batch_size, smoothing_sigma, self.device
        )

    def error_map(self, image: torch.Tensor) -> np.ndarray:
        """Smoothed squared reconstruction error, (X, Y, Z) on the model's grid (:class:`ReconstructionErrorMap`)."""
        return self._error_map(image)

    def latents(self, image: torch.Tensor, label: np.ndarray, case: str, affine: np.ndarray) -> list[dict]:
        """Latent rows of one volume (:class:`~liver3d.ae.latents.PatchLatents`)."""
        return self._latents(image, label, case, affine)

    def produce(self, sample: dict) -> dict:
        """The map producer: the error map on the model's grid, its scores against the label there, and the
        volume's patch latents."""
        label = np.asarray(sample["label"][0]).astype(np.int16)
        error = self.error_map(sample["image"])
        model_affine = np.asarray(torch.as_tensor(sample["image"].affine), dtype=float)
        return {
            "maps": error[None],
            "names": ["recon_error"],
            "scores": score_error_map(error, label, self.liver_fpr),
            "label": label,
            "model_affine": model_affine,
        }

    def run(self) -> dict:
        self.network.eval()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        grid = MapsToInputGridSaver(self.preprocessing, self.output_dir / "error_maps")
        cases = Collect(lambda out: {"case_id": out["case"], **out["scores"]})
        latents = Collect(
            lambda out: self.latents(out["sample"]["image"], out["label"], out["case"], out["model_affine"])
        )
        message = CaseLog(
            lambda out: (
                f"{out['case']}: tumor AUROC {out['scores']['auroc']:.3f}, "
                f"lesions hit {out['scores']['lesions_hit']}/{out['scores']['lesions']}"
            )
        )
        MapEvaluator(
            self.produce, self.data, self.preprocessing, [grid, cases, latents, message], self.device
        ).run()
        summary = summarize_cases(cases.rows, self.liver_fpr)
        summary["latent_separability"] = latent_separability(latents.rows)
        table = format_ae_table(cases.rows, summary)
        write_tables(
            self.output_dir,
            {
                "anomaly_per_case.csv": cases.rows,
                "anomaly_summary.json": summary,
                "anomaly_summary.md": table,
            },
        )
        write_latents(latents.rows, self.output_dir, self.embed)
        log.info("\n%s", table)
        log.info("%s", f"error maps, latents, embedding and tables: {self.output_dir}")
        return {"cases": cases.rows, "summary": summary}
