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
from liver3d.data.datalist import case_name
from liver3d.inference.invert import MapsToInputGrid
from liver3d.io.nifti import save_nifti

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
        self.to_input_grid = MapsToInputGrid(preprocessing)

    def run(self) -> Path:
        from liver3d.manifest import write_result_manifest

        self.error_map.network.eval()
        cases = []
        for n, entry in enumerate(self.data):
            case = case_name(str(entry["image"]))
            d = self.preprocessing(dict(entry))
            back, affine = self.to_input_grid(d, self.error_map(d["image"])[None])
            save_nifti(back[0].astype(np.float32), affine, self.output_dir / f"{case}_recon_error.nii.gz")
            cases.append({"case": case, "input": str(entry["image"])})
            log.info("%s", f"[{n + 1}/{len(self.data)}] {case}: reconstruction error map")
        return write_result_manifest(self.output_dir, self.metadata, cases, self.settings)
