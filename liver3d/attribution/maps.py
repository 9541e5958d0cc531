"""Attribution maps on the network's input grid, 2D (B, C, H, W) or 3D (B, C, D, H, W).

- ``integrated_gradients`` (Captum): gradients averaged along the straight path from a baseline (a constant
  image, 0 = the bottom of the window) to the input, times (input - baseline); summed over input channels.
  Positive values push the target up.
- ``occlusion`` (MONAI ``OcclusionSensitivity``): the target's drop when a patch around each voxel is blurred
  out (Gaussian occlusion); positive values mark regions the target depends on.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

METHODS = ("integrated_gradients", "occlusion")


def attribute(
    model: nn.Module,
    image: torch.Tensor,
    method: str = "integrated_gradients",
    target: int = 0,
    steps: int = 32,
    baseline: float = 0.0,
    mask_size: int | tuple[int, ...] = 8,
    overlap: float = 0.5,
    batch_size: int = 8,
    activate: bool = True,
) -> np.ndarray:
    """(B, *spatial) attribution of output ``target`` of ``model`` for ``image``.

    ``activate``: apply softmax to the model's outputs before occlusion (classifiers); set False for a model that
    already returns probabilities (e.g. :class:`~liver3d.attribution.MeanClassProbability`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if image.ndim not in (4, 5):
        raise ValueError(f"expected a (B, C, H, W) or (B, C, D, H, W) batch, got shape {tuple(image.shape)}")
    model.eval()
    if method == "integrated_gradients":
        from captum.attr import IntegratedGradients

        inputs = image.detach().clone().requires_grad_(True)
        maps = IntegratedGradients(model).attribute(
            inputs,
            baselines=torch.full_like(inputs, float(baseline)),
            target=target,
            n_steps=steps,
            internal_batch_size=batch_size,
        )
        return maps.sum(1).detach().cpu().numpy()
    from monai.visualize import OcclusionSensitivity

    occlusion = OcclusionSensitivity(
        nn_module=model,
        mask_size=mask_size,
        n_batch=batch_size,
        overlap=overlap,
        activate=activate,
        verbose=False,
    )
    maps = []
    for i in range(image.shape[0]):
        x = image[i : i + 1]
        with torch.no_grad():
            out = model(x)
            reference = torch.softmax(out, 1) if activate else out
        occluded, _ = occlusion(x)  # (1, N, *spatial): each output when the region around a voxel is occluded
        maps.append((reference[0, target] - occluded[0, target]).cpu().numpy())
    return np.stack(maps)
