"""Loading pretrained 2D weights from a local file into liver3d's 2D and 3D networks. Nothing is downloaded.

Handles torchvision state dicts (ResNet, ConvNeXt: names match ours), timm ConvNeXt names, and self-supervised
checkpoints (DINO and similar: ``teacher``/``student``/``state_dict`` wrappers, ``module.``/``backbone.``
prefixes). 2D kernels are inflated to 3D (I3D: repeated along depth and divided by the depth), RGB stems are
summed to one channel for CT, and every key is accounted for in a :class:`LoadReport`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from liver3d.networks.weights import read_weights

# timm ConvNeXt -> torchvision/liver3d names.
TIMM_CONVNEXT = [
    (r"^stem\.0\.", "features.0.0."),
    (r"^stem\.1\.", "features.0.1."),
    (r"^stages\.(\d+)\.downsample\.(\d)\.", lambda m: f"features.{2 * int(m.group(1))}.{m.group(2)}."),
    (
        r"^stages\.(\d+)\.blocks\.(\d+)\.conv_dw\.",
        lambda m: f"features.{2 * int(m.group(1)) + 1}.{m.group(2)}.block.0.",
    ),
    (
        r"^stages\.(\d+)\.blocks\.(\d+)\.norm\.",
        lambda m: f"features.{2 * int(m.group(1)) + 1}.{m.group(2)}.block.2.",
    ),
    (
        r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.",
        lambda m: f"features.{2 * int(m.group(1)) + 1}.{m.group(2)}.block.3.",
    ),
    (
        r"^stages\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.",
        lambda m: f"features.{2 * int(m.group(1)) + 1}.{m.group(2)}.block.5.",
    ),
    (
        r"^stages\.(\d+)\.blocks\.(\d+)\.gamma$",
        lambda m: f"features.{2 * int(m.group(1)) + 1}.{m.group(2)}.layer_scale",
    ),
    (r"^head\.norm\.", "classifier.0."),
    (r"^head\.fc\.", "classifier.2."),
]
KEY_MAPS = {"torchvision": [], "timm": TIMM_CONVNEXT}
PREFIXES = ("module.", "backbone.", "encoder.", "model.")


@dataclass
class LoadReport:
    """What happened to every key: loaded as is, inflated 2D->3D, adapted (input channels), or not loaded."""

    loaded: list[str] = field(default_factory=list)
    inflated: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"loaded {len(self.loaded)} tensors ({len(self.inflated)} inflated 2D->3D, {len(self.adapted)} adapted "
            f"to the input channels); missing {len(self.missing)}, unexpected {len(self.unexpected)}, "
            f"shape mismatch {len(self.shape_mismatch)}"
            + (f"; missing e.g. {self.missing[:3]}" if self.missing else "")
        )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, unwrapped from the usual containers and prefixes.

    Reads through :func:`liver3d.networks.weights.read_weights` (weights-only unpickling: a file that holds
    code is refused with a :class:`~liver3d.networks.weights.WeightsError`, nothing runs).
    """
    state = read_weights(path)
    cleaned = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        changed = True
        while changed:
            changed = False
            for prefix in PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        cleaned[key] = value
    return cleaned


def map_keys(state: dict[str, torch.Tensor], key_map: str | list) -> dict[str, torch.Tensor]:
    rules = KEY_MAPS[key_map] if isinstance(key_map, str) else key_map
    out = {}
    for key, value in state.items():
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out


def inflate(weight: torch.Tensor, target_shape: torch.Size) -> torch.Tensor | None:
    """A 2D conv kernel (O, I, kh, kw) as a 3D one (O, I, kd, kh, kw): repeated along depth, divided by kd."""
    if weight.ndim != 4 or len(target_shape) != 5:
        return None
    depth = target_shape[2]
    inflated = weight.unsqueeze(2).repeat(1, 1, depth, 1, 1) / depth
    return inflated if inflated.shape == target_shape else None


def adapt_input_channels(weight: torch.Tensor, target_in: int) -> torch.Tensor | None:
    """A stem kernel for ``target_in`` channels: RGB summed for one channel (grey CT), or repeated and rescaled."""
    source_in = weight.shape[1]
    if target_in == 1:
        return weight.sum(dim=1, keepdim=True)
    if target_in % source_in == 0:
        return weight.repeat(1, target_in // source_in, *([1] * (weight.ndim - 2))) * (source_in / target_in)
    return None


def load_pretrained(
    model: nn.Module,
    path: str | Path,
    key_map: str | list = "torchvision",
    skip: tuple[str, ...] = ("fc.", "classifier.2."),
) -> LoadReport:
    """Load 2D pretrained weights from ``path`` into ``model`` (2D or 3D), returning what was loaded.

    ``skip`` leaves the classification layer(s) to train (their class count differs).

    Example:
        >>> net = resnet(50, spatial_dims=3, in_channels=1, num_classes=2)  # doctest: +SKIP
        >>> print(load_pretrained(net, "resnet50_torchvision.pth").summary())
    """
    source = map_keys(read_state_dict(path), key_map)
    target = model.state_dict()
    report = LoadReport()
    new_state = {}
    for key, value in source.items():
        if any(key.startswith(s) for s in skip):
            continue
        if key not in target:
            report.unexpected.append(key)
            continue
        want = target[key].shape
        if value.shape != want and value.ndim >= 3 and value.shape[1] != want[1]:
            value = adapt_input_channels(value, want[1])  # e.g. an RGB stem for one-channel CT
            if value is not None:
                report.adapted.append(key)
        if value is not None and value.shape != want and value.ndim == 4 and len(want) == 5:
            value = inflate(value, want)
            if value is not None:
                report.inflated.append(key)
        if value is not None and value.shape != want and value.numel() == target[key].numel():
            value = value.reshape(want)  # e.g. layer scale (C, 1, 1) -> (C, 1, 1, 1)
        if value is None or value.shape != want:
            report.shape_mismatch.append(key)
            continue
        new_state[key] = value.to(target[key].dtype)
        report.loaded.append(key)
    report.missing = [k for k in target if k not in new_state and not k.endswith("num_batches_tracked")]
    model.load_state_dict(new_state, strict=False)
    return report
