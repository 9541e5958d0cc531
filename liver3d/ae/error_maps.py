"""Reconstruction-error maps of a patch autoencoder, and their inference without a reference.

:class:`ReconstructionErrorMap` reconstructs a preprocessed volume by sliding window (Gaussian-weighted
overlaps) and returns the squared error, smoothed by ``smoothing_sigma`` voxels, on the model's grid.
:class:`ErrorMapInference` (the ``tumor_patch_ae`` bundle's ``inference.json``) writes it for every input on
the input's grid (``<case>_recon_error.nii.gz``) and the run's ``result.json``; the analysis with labels
(AUROC, lesion hits, latents) is :class:`liver3d.ae.PatchAEAnalysis`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from scipy import ndimage
from torch import nn

from liver3d.ae.networks import reconstruction
from liver3d.engines.maps import CaseLog, Collect, MapEvaluator, MapsToInputGridSaver

log = logging.getLogger(__name__)


class ReconstructionErrorMap:
    """Smoothed squared reconstruction error of a (1, X, Y, Z) volume, (X, Y, Z) on the model's grid."""

    def __init__(
        self,
        network: nn.Module,
        patch_size: Sequence[int],
        overlap: float = 0.5,
        sw_batch_size: int = 8,
        smoothing_sigma: float = 1.0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.network, self.patch_size = network, [int(p) for p in patch_size]
        self.overlap, self.sw_batch_size, self.smoothing_sigma = overlap, sw_batch_size, smoothing_sigma
        self.device = torch.device(device)

    def __call__(self, image: torch.Tensor) -> np.ndarray:
        x = image.as_tensor() if hasattr(image, "as_tensor") else image
        x = x[None].float().to(self.device)
        with torch.no_grad():
            recon = sliding_window_inference(
                x,
                self.patch_size,
                self.sw_batch_size,
                lambda p: reconstruction(self.network(p)),
                overlap=self.overlap,
                mode="gaussian",
            )
        error = ((x - recon) ** 2)[0, 0].cpu().numpy()
        return ndimage.gaussian_filter(error, self.smoothing_sigma) if self.smoothing_sigma > 0 else error


class ErrorMapInference:
    """``<case>_recon_error.nii.gz`` on the input's grid for every input, then ``result.json``."""

    def __init__(
        self,
        error_map: ReconstructionErrorMap,
        data: Sequence[dict],
        preprocessing: Callable[[dict], dict],
        output_dir: str | Path,
        metadata: dict | str | Path,
        settings: dict | None = None,
    ) -> None:
        self.error_map, self.data, self.preprocessing = error_map, list(data), preprocessing
        self.output_dir, self.metadata, self.settings = Path(output_dir), metadata, settings or {}

    def produce(self, sample: dict) -> dict:
        """The map producer (:mod:`liver3d.engines.maps`): the error map on the model's grid."""
        return {"maps": self.error_map(sample["image"])[None], "names": ["recon_error"]}

    def run(self) -> Path:
        from liver3d.manifest import write_result_manifest

        self.error_map.network.eval()
        grid = MapsToInputGridSaver(self.preprocessing, self.output_dir)
        cases = Collect(lambda out: {"case": out["case"], "input": str(out["entry"]["image"])})
        message = CaseLog(lambda out: f"{out['case']}: reconstruction error map")
        handlers = [grid, cases, message]
        MapEvaluator(self.produce, self.data, self.preprocessing, handlers, self.error_map.device).run()
        return write_result_manifest(self.output_dir, self.metadata, cases.rows, self.settings)
