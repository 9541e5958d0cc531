"""Helpers for the viewer tests: untrained (random but fixed) checkpoints of each bundle, in a registry.

The viewer's plumbing (staging, bundle runs, outputs on the input's grid, downloads) does not depend on what
a model has learned, so these tests use networks straight from the bundle configs, saved as checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import torch

from liver3d.app import ModelEntry, load_registry, register_model

TINY_SEG = {"roi_size": [32, 32, 16], "fine_pixdim": [5.0, 5.0, 6.0], "coarse_factor": 2}
MODELS = [
    {"name": "cascade", "task": "segmentation", "overrides": {"bundle_root": "seg", **TINY_SEG}},
    {"name": "slices", "task": "slice_classifier", "overrides": {"bundle_root": "slices", "image_size": 32}},
    {
        "name": "presence",
        "task": "volume_classifier",
        "overrides": {"bundle_root": "volume", "input_size": [32, 32, 16]},
    },
    {
        "name": "xray",
        "task": "image2d",
        "configs": ["train.json", "xray_pneumonia.json", "cam.json"],
        "overrides": {"bundle_root": "image2d", "image_size": 64, "resnet_depth": 18},
    },
]


def write_untrained_models(root: Path) -> Path:
    """Checkpoints for every entry of :data:`MODELS` under ``root`` and ``root/app_models.json``."""
    registry = root / "app_models.json"
    for spec in MODELS:
        register_model(registry, spec)
    for entry in load_registry(registry):
        save_untrained(entry, entry.checkpoints)
    return registry


def save_untrained(entry: ModelEntry, paths: list[Path]) -> None:
    torch.manual_seed(0)
    network = entry.parser().get_parsed_content("network_def")
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(network.state_dict(), path)
