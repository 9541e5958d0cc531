"""The models the viewer offers: a JSON file that names each trained bundle, its configs and overrides.

The operator writes (or the demo writes, ``demo_out/app_models.json``) one entry per trained model, e.g.::

    {"models": [
        {"name": "liver + tumor cascade (demo)", "task": "segmentation", "bundle": "liver_tumor_seg",
         "overrides": {"bundle_root": "demo_out/liver_tumor_seg", "roi_size": [96, 96, 64]}},
        {"name": "X-ray pneumonia", "task": "image2d", "bundle": "image_cls_2d",
         "configs": ["train.json", "xray_pneumonia.json", "cam.json"],
         "overrides": {"bundle_root": "demo_out/image_cls_2d", "image_size": 128, "resnet_depth": 18}}
    ]}

``overrides`` are the same ``--key value`` pairs the model was trained with (network size, input size), so
the bundle config rebuilds the same network. Relative paths are taken from the registry file's folder. The
client only ever picks an entry by its name: no path comes from the browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from liver3d.io.atomic import write_json_atomic
from liver3d.paths import bundles_dir

TASKS = {
    "segmentation": ("liver_tumor_seg", ["inference.json"]),
    "slice_classifier": ("liver_slice_cls", ["train.json", "evaluate_cam.json"]),
    "volume_classifier": ("liver_volume_cls", ["train.json", "evaluate_cam.json"]),
    "image2d": ("image_cls_2d", ["train.json", "cam.json"]),
}
TASK_TITLES = {
    "segmentation": "3D segmentation (liver, tumor)",
    "slice_classifier": "slice classifier on the volume (per-slice probabilities, Grad-CAM)",
    "volume_classifier": "volume classifier (tumor present?, 3D Grad-CAM; liver ROI from a segmentation)",
    "image2d": "2D study classifier (probabilities, Grad-CAM boxes)",
}
PATH_KEYS = ("bundle_root", "model_path", "stage1_checkpoint", "stage2_checkpoint", "ckpt_dir")


class RegistryError(ValueError):
    """A registry file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class ModelEntry:
    """One model: its display name, task, bundle, bundle config files and overrides."""

    name: str
    task: str
    bundle: str
    configs: tuple[str, ...]
    overrides: dict = field(default_factory=dict)

    @property
    def bundle_configs(self) -> Path:
        return bundles_dir() / self.bundle / "configs"

    def config_files(self) -> list[str]:
        return [str(self.bundle_configs / c) for c in self.configs]

    def parser(self, **extra):
        """A MONAI ``ConfigParser`` of this entry's configs with its overrides (and ``extra``) applied."""
        from monai.bundle import ConfigParser

        parser = ConfigParser()
        parser.read_config(self.config_files())
        parser.read_meta(str(self.bundle_configs / "metadata.json"))
        parser.update({**self.overrides, **extra})
        return parser

    @property
    def checkpoints(self) -> list[Path]:
        """The checkpoint files this entry loads (as its bundle config resolves them)."""
        keys = ["stage1_checkpoint", "stage2_checkpoint"] if self.task == "segmentation" else ["model_path"]
        parser = self.parser()
        return [Path(parser.get_parsed_content(k)) for k in keys]

    @property
    def missing(self) -> list[Path]:
        return [p for p in self.checkpoints if not p.is_file()]


def parse_entry(spec: dict, base: Path, source: str) -> ModelEntry:
    name = spec.get("name")
    task = spec.get("task")
    if not name or task not in TASKS:
        raise RegistryError(
            f"{source}: entry {name or spec!r} needs a 'name' and a 'task' from {sorted(TASKS)}"
        )
    bundle, default_configs = TASKS[task]
    bundle = spec.get("bundle", bundle)
    configs = tuple(spec.get("configs", default_configs))
    overrides = dict(spec.get("overrides", {}))
    for key in PATH_KEYS:
        if key in overrides and not Path(overrides[key]).is_absolute():
            overrides[key] = str((base / overrides[key]).resolve())
    entry = ModelEntry(str(name), task, bundle, configs, overrides)
    missing = [c for c in entry.config_files() if not Path(c).is_file()]
    if missing:
        raise RegistryError(f"{source}: entry {name!r} names config files that do not exist: {missing}")
    return entry


def load_registry(path: str | Path) -> list[ModelEntry]:
    """Every entry of a registry file (``{"models": [...]}``), with relative paths resolved."""
    path = Path(path)
    if not path.is_file():
        raise RegistryError(f"{path}: model registry not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RegistryError(f"{path}: not valid JSON ({err})") from err
    specs = data.get("models") if isinstance(data, dict) else None
    if not isinstance(specs, list):
        raise RegistryError(f"{path}: expected {{'models': [...]}}")
    entries = [parse_entry(spec, path.parent.resolve(), str(path)) for spec in specs]
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RegistryError(f"{path}: model names must be unique, repeated: {duplicates}")
    return entries


SHIPPED_SEGMENTATION = "liver + tumor cascade (shipped release weights)"


def shipped_models() -> list[ModelEntry]:
    """The models that ship with liver3d, offered without any registry file or demo run.

    Today the ``liver_tumor_seg`` release cascade (``bundles/liver_tumor_seg/models/release/``), when its weight
    files are present.
    """
    root = bundles_dir() / "liver_tumor_seg"
    if not all((root / "models" / "release" / f"{s}.pt").is_file() for s in ("stage1", "stage2")):
        return []
    release = root / "models" / "release"
    overrides = {
        "bundle_root": str(root),
        "stage1_checkpoint": str(release / "stage1.pt"),  # the release files, whatever else the root holds
        "stage2_checkpoint": str(release / "stage2.pt"),
    }
    return [
        ModelEntry(SHIPPED_SEGMENTATION, "segmentation", "liver_tumor_seg", ("inference.json",), overrides)
    ]


def register_model(path: str | Path, spec: dict) -> Path:
    """Add (or replace, by name) one entry in the registry file at ``path``; written atomically."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"models": []}
    parse_entry(spec, path.parent.resolve(), str(path))  # refuse a bad entry before writing
    data["models"] = [m for m in data.get("models", []) if m.get("name") != spec["name"]] + [spec]
    return write_json_atomic(path, data)
