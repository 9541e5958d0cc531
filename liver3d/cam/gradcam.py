"""Grad-CAM, Grad-CAM++ and LayerCAM for 2D and 3D classifiers, target layers by name, several layers at once.

LayerCAM (Jiang et al., IEEE TIP 2021) weights each location's activations by that location's positive
gradients instead of one spatial mean per channel, which keeps a middle layer's finer grid usable: on the
demo's slice classifier it is the method that localizes best (bundle docs).

2D inputs go through pytorch-grad-cam (``GradCAM``, ``GradCAMPlusPlus``, ``LayerCAM``); 3D inputs through
MONAI's ``GradCAM``/``GradCAMpp`` and :class:`LayerCAM3D` (MONAI's hooks, LayerCAM's weighting), which handle any rank and upsample with interpolation (pytorch-grad-cam's 3D path
resizes with ``scipy.ndimage.zoom``, slow on volumes). MONAI's default normaliser maps (min, max) to (1, 0), so
we pass none and min-max normalise to (0, 1) ourselves: 1 is the most class-relevant voxel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from liver3d.cam.pseudomask import normalize_cam

METHODS = ("gradcam", "gradcam++", "layercam")


def layer_by_name(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if name not in modules:
        close = [n for n in modules if name.split(".")[0] in n][:5]
        raise KeyError(
            f"no layer named {name!r} in {type(model).__name__}; e.g. {close or list(modules)[1:6]}"
        )
    return modules[name]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _monai_layercam():
    from monai.visualize import GradCAM

    class LayerCAM3D(GradCAM):
        """LayerCAM on MONAI's hooks: ReLU(sum over channels of ReLU(gradient) * activation), per location."""

        def compute_map(self, x, class_idx=None, retain_graph=False, layer_idx=-1, **kwargs):
            _, acti, grad = self.nn_module(x, class_idx=class_idx, retain_graph=retain_graph, **kwargs)
            acti, grad = acti[layer_idx], grad[layer_idx]
            return torch.relu((torch.relu(grad) * acti).sum(1, keepdim=True))

    return LayerCAM3D


def compute_cam(
    model: nn.Module,
    image: torch.Tensor,
    target_layer: str,
    class_index: int | Sequence[int],
    method: str = "gradcam",
) -> np.ndarray:
    """CAMs for a batch (B, C, H, W) or (B, C, D, H, W): (B, H, W) or (B, D, H, W), each in [0, 1].

    ``class_index`` is one class for the whole batch or one per image.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    model.eval()
    batch = image.shape[0]
    classes = [int(class_index)] * batch if isinstance(class_index, int) else [int(c) for c in class_index]
    if image.ndim == 4:
        from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, LayerCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        cam_class = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "layercam": LayerCAM}[method]
        with cam_class(model=model, target_layers=[layer_by_name(model, target_layer)]) as cam:
            maps = cam(input_tensor=image, targets=[ClassifierOutputTarget(c) for c in classes])
    elif image.ndim == 5:
        from monai.visualize import GradCAM, GradCAMpp

        layer_by_name(model, target_layer)  # a clear error for a wrong name
        cam_class = {"gradcam": GradCAM, "gradcam++": GradCAMpp, "layercam": _monai_layercam()}[method]
        cam = cam_class(nn_module=model, target_layers=target_layer, postprocessing=_identity)
        maps = np.concatenate(
            [cam(image[i : i + 1], class_idx=classes[i]).detach().cpu().numpy()[:, 0] for i in range(batch)]
        )
    else:
        raise ValueError(f"expected a (B, C, H, W) or (B, C, D, H, W) batch, got shape {tuple(image.shape)}")
    return np.stack([normalize_cam(m) for m in maps])


def compute_cams(
    model: nn.Module,
    image: torch.Tensor,
    target_layers: Sequence[str],
    class_index: int | Sequence[int],
    method: str = "gradcam",
) -> dict[str, np.ndarray]:
    """Several layers side by side (e.g. ``layer2``, ``layer3``, ``layer4`` as in seed 002)."""
    return {layer: compute_cam(model, image, layer, class_index, method) for layer in target_layers}
