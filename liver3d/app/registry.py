"""The models the viewer offers: a JSON file that names each trained bundle, its configs and overrides.

What a bundle runs and writes, its task name and title come from the bundle's own ``metadata.json``
(``liver3d_inference``, see :mod:`liver3d.manifest`): nothing here names a bundle's config ids, so a bundle
added tomorrow with that contract is offered with no change to ``app/``.

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
from liver3d.paths import bundle_names, bundles_dir


def bundle_contract(bundle: str) -> dict:
    """A bundle's inference contract (``metadata.json``, ``liver3d_inference``): its configs, what it accepts,
    what it writes, and how the viewer shows it (``viewer``: task, title, checkpoint keys)."""
    path = bundles_dir() / bundle / "configs" / "metadata.json"
    if not path.is_file():
        raise RegistryError(f"{path}: bundle {bundle!r} not found")
    contract = json.loads(path.read_text(encoding="utf-8")).get("liver3d_inference")
    if not contract or "viewer" not in contract:
        raise RegistryError(f"{path}: bundle {bundle!r} declares no liver3d_inference.viewer contract")
    return contract


def task_bundles() -> dict[str, str]:
    """{viewer task: bundle} over every bundle that declares one."""
    tasks = {}
    for bundle in bundle_names():
        try:
            tasks[bundle_contract(bundle)["viewer"]["task"]] = bundle
        except RegistryError:
            continue
    return tasks


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
    def contract(self) -> dict:
        return bundle_contract(self.bundle)

    @property
    def title(self) -> str:
        return self.contract["viewer"]["title"]

    @property
    def accepts(self) -> str:
        return self.contract["accepts"]

    @property
    def run_configs(self) -> tuple[str, ...]:
        """The configs an inference run merges: this entry's (what the model was trained with), then the
        declared inference configs it lacks, in their order (``inference.json`` last)."""
        return self.configs + tuple(c for c in self.contract["configs"] if c not in self.configs)

    @property
    def bundle_configs(self) -> Path:
        return bundles_dir() / self.bundle / "configs"

    def config_files(self, configs: tuple[str, ...] | None = None) -> list[str]:
        return [str(self.bundle_configs / c) for c in (configs or self.configs)]

    def parser(self, configs: tuple[str, ...] | None = None, **extra):
        """A MONAI ``ConfigParser`` of this entry's configs (or ``configs``) with its overrides (and
        ``extra``) applied."""
        from monai.bundle import ConfigParser

        parser = ConfigParser()
        parser.read_config(self.config_files(configs))
        parser.read_meta(str(self.bundle_configs / "metadata.json"))
        parser.update({**self.overrides, **extra})
        return parser

    @property
    def checkpoints(self) -> list[Path]:
        """The checkpoint files this entry loads (as its bundle config resolves them)."""
        keys = self.contract["viewer"]["checkpoint_keys"]
        parser = self.parser(self.run_configs)
        return [Path(parser.get_parsed_content(k)) for k in keys]

    @property
    def missing(self) -> list[Path]:
        return [p for p in self.checkpoints if not p.is_file()]


def parse_entry(spec: dict, base: Path, source: str) -> ModelEntry:
    name = spec.get("name")
    tasks = task_bundles()
    bundle = spec.get("bundle") or tasks.get(spec.get("task"))
    if not name or bundle not in tasks.values():
        raise RegistryError(
            f"{source}: entry {name or spec!r} needs a 'name' and a 'task' from {sorted(tasks)} "
            f"(or a 'bundle' from {sorted(tasks.values())})"
        )
    contract = bundle_contract(bundle)
    task = contract["viewer"]["task"]
    configs = tuple(spec.get("configs", contract["configs"][:-1] or contract["configs"]))
    overrides = dict(spec.get("overrides", {}))
    for key in contract.get("path_keys", []):  # overrides that are paths, relative to the registry file
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


SHIPPED_SEGMENTATION = (
    "liver + tumor cascade (shipped release weights)"  # its metadata's shipped_weights name
)


def shipped_models() -> list[ModelEntry]:
    """The models that ship with liver3d, offered without any registry file or demo run: every bundle whose
    contract declares ``viewer.shipped_weights`` (today the ``liver_tumor_seg`` release cascade), when its
    weight files are present."""
    entries = []
    for bundle in bundle_names():
        try:
            contract = bundle_contract(bundle)
        except RegistryError:
            continue
        shipped = contract["viewer"].get("shipped_weights")
        if not shipped:
            continue
        root = bundles_dir() / bundle
        # paths relative to the bundle folder: its release files, whatever else the bundle root holds
        overrides = {
            key: str((root / value).resolve()) if key in contract.get("path_keys", []) else value
            for key, value in shipped["overrides"].items()
        }
        configs = tuple(contract["configs"][:-1] or contract["configs"])
        entry = ModelEntry(shipped["name"], contract["viewer"]["task"], bundle, configs, overrides)
        if not entry.missing:
            entries.append(entry)
    return entries


def register_model(path: str | Path, spec: dict) -> Path:
    """Add (or replace, by name) one entry in the registry file at ``path``; written atomically."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"models": []}
    parse_entry(spec, path.parent.resolve(), str(path))  # refuse a bad entry before writing
    data["models"] = [m for m in data.get("models", []) if m.get("name") != spec["name"]] + [spec]
    return write_json_atomic(path, data)
