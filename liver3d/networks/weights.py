"""Safe weight files: one loader that never runs code, checksums, and the shipped release weights.

Every weight file liver3d reads goes through :func:`read_weights`: ``torch.load(weights_only=True)``, which
refuses pickled objects other than tensors and plain containers, so a crafted checkpoint cannot run code
when loaded. What goes wrong is a :class:`WeightsError` naming the file and the problem in one line:

- the file is missing, truncated or not a PyTorch file;
- it holds code or objects other than tensors ("refused: not a weights-only file");
- its SHA-256 differs from the one recorded in the ``manifest.json`` beside it (a damaged or swapped file);
- its tensors do not fit the network (missing / unexpected keys, shape mismatches: the first few named).

Release weights live in ``bundles/liver_tumor_seg/models/release/`` as half-precision state dicts with a
``manifest.json`` (file -> SHA-256, bytes) and ``training.json`` (the recipe that produced them); they are
cast to the network's dtype on load.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from liver3d.errors import InputError
from liver3d.io.atomic import atomic_path, write_json_atomic

WRAPPERS = ("state_dict", "model", "teacher", "student", "module")
MANIFEST = "manifest.json"


class WeightsError(InputError):
    """A weight file that cannot be used: ``"<path>: <problem>"``."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(path: str | Path) -> tuple[Path, object]:
    """The ``manifest.json`` beside ``path`` and its parsed JSON (None when there is no manifest; the readers
    check the tables they need). Raises :class:`WeightsError` when it is not valid JSON."""
    manifest = Path(path).parent / MANIFEST
    if not manifest.is_file():
        return manifest, None
    try:
        return manifest, json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise WeightsError(manifest, f"not valid JSON ({err.msg})") from err


def recorded_sha256(path: str | Path) -> str | None:
    """The SHA-256 that the ``manifest.json`` beside ``path`` records for it, or None when there is none."""
    path = Path(path)
    manifest, content = read_manifest(path)
    if content is None:
        return None
    files = content.get("files", {}) if isinstance(content, dict) else None
    if not isinstance(files, dict):
        raise WeightsError(manifest, "no 'files' table")
    entry = files.get(path.name)
    if not isinstance(entry, dict) or "sha256" not in entry:
        raise WeightsError(path, f"not listed in {manifest.name} beside it (no checksum to check)")
    return entry["sha256"]


def verify_checksum(path: str | Path, expected: str | None = None) -> None:
    """Raise :class:`WeightsError` when ``path``'s SHA-256 differs from ``expected`` (or its manifest's)."""
    expected = expected or recorded_sha256(path)
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise WeightsError(
            path,
            f"checksum mismatch (SHA-256 {actual[:12]}..., expected {expected[:12]}...): damaged or replaced",
        )


def read_weights(path: str | Path, check: bool = True) -> dict[str, torch.Tensor]:
    """The tensors of a weight file, unwrapped from the usual containers; never unpickles code.

    ``check`` verifies the SHA-256 recorded in a ``manifest.json`` beside the file, when there is one.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "weights file not found (give a local file; nothing is downloaded)")
    if check:
        verify_checksum(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if "weights_only" in str(err) or "Unsupported global" in str(err) or "GLOBAL" in str(err):
            raise WeightsError(
                path, "refused: holds code or objects other than tensors (not a weights-only file)"
            ) from err
        raise WeightsError(path, f"not a PyTorch weights file ({first[:120]})") from err
    except (EOFError, zipfile.BadZipFile) as err:
        raise WeightsError(path, "truncated or corrupt weights file") from err
    except RuntimeError as err:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "zip" in text.lower() or "archive" in text.lower() or "eof" in text.lower():
            raise WeightsError(path, "truncated or corrupt weights file") from err
        raise WeightsError(path, f"cannot read ({text[:150]})") from err
    except Exception as err:  # any other failure of the unpickler is still one line about this file
        raise WeightsError(path, f"not a PyTorch weights file ({type(err).__name__})") from err
    while isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        inner = next((state[k] for k in WRAPPERS if k in state and isinstance(state[k], dict)), None)
        if inner is None:
            break
        state = inner
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(path, "holds no tensors (not a state dict)")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_weights(network: nn.Module, path: str | Path, check: bool = True) -> nn.Module:
    """Load ``path`` into ``network`` (strict), casting half-precision files to the network's dtype."""
    state = read_weights(path, check=check)
    own = network.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        if mismatched:
            k = mismatched[0]
            parts.append(
                f"{len(mismatched)} shape mismatch(es), e.g. {k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
            )
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[0]}")
        raise WeightsError(path, "does not fit the network: " + "; ".join(parts))
    cast = {k: v.to(own[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    network.load_state_dict(cast, strict=True)
    return network


def require_weights(network: nn.Module, path: str | Path) -> nn.Module:
    """:func:`load_weights` under the name bundle configs use in ``initialize`` (through
    :func:`liver3d.bundle_support.checked`), so nothing is read or written when a weight file is bad.
    Raises :class:`WeightsError`."""
    return load_weights(network, path)


def half_precision(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as float16 (running statistics included), integers (e.g. batch counts) unchanged."""
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def export_release_weights(
    sources: Mapping[str, str | Path],
    out_dir: str | Path,
    training: dict,
    ensembles: Mapping[str, Sequence[str]] | None = None,
    keep: Mapping[str, str | Path] | None = None,
) -> Path:
    """Write each ``sources[name]`` (a state dict file) as ``out_dir/<name>.pt`` in half precision.

    ``keep`` are release files copied byte for byte as ``out_dir/<name>.pt`` (an earlier release's weights,
    checked against their manifest first, so their SHA-256 stays what it was). Also writes ``manifest.json``
    (SHA-256 and size of each file, and ``ensembles``: a head name -> the names of its members, head first, as
    :func:`liver3d.networks.ensemble_members` reads them) and ``training.json`` (``training``). Returns
    ``out_dir``.
    """
    keep = dict(keep or {})
    unknown = [m for names in (ensembles or {}).values() for m in names if m not in sources and m not in keep]
    if unknown:
        raise ValueError(f"ensemble members without a source: {unknown}")
    for head, names in (ensembles or {}).items():
        if not names or names[0] != head or len(set(names)) != len(names):
            raise ValueError(
                f"the ensemble of {head} must list {head} first and each member once: {list(names)}"
            )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, source in keep.items():
        state = read_weights(source)  # refuses a damaged or swapped file before it is shipped again
        target = out_dir / f"{name}.pt"
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        files[target.name] = {
            "sha256": sha256_of(target),
            "bytes": target.stat().st_size,
            "dtype": str(next(iter(state.values())).dtype).replace("torch.", ""),
            "tensors": len(state),
        }
    for name, source in sources.items():
        state = half_precision(read_weights(source, check=False))
        target = out_dir / f"{name}.pt"
        with atomic_path(target) as tmp:
            torch.save(state, tmp)
        files[target.name] = {
            "sha256": sha256_of(target),
            "bytes": target.stat().st_size,
            "dtype": "float16",
            "tensors": len(state),
        }
    manifest: dict = {"files": files}
    if ensembles:
        manifest["ensembles"] = {
            f"{head}.pt": [f"{m}.pt" for m in names] for head, names in ensembles.items()
        }
    write_json_atomic(out_dir / "training.json", training)
    write_json_atomic(out_dir / MANIFEST, manifest)
    return out_dir


CASCADE_STAGES = ("stage1", "stage2")


def stage_checkpoint(models_dir: str | Path, stage: str) -> str:
    """The weights a cascade stage runs with, chosen for both stages together.

    ``<models_dir>/<stage>/model.pt`` when this bundle root holds a trained cascade (both stages: training
    writes ``stage1/model.pt`` and ``stage2/model.pt``), else the shipped release file
    ``<models_dir>/release/<stage>.pt``. A bundle root with only one trained stage is an error rather than a
    silent mix of a trained stage with a release stage.
    """
    models_dir = Path(models_dir)
    trained = {s: models_dir / s / "model.pt" for s in CASCADE_STAGES}
    present = [s for s, p in trained.items() if p.is_file()]
    if len(present) == len(CASCADE_STAGES):
        return str(trained[stage])
    if present:
        missing = next(s for s in CASCADE_STAGES if s not in present)
        raise WeightsError(
            trained[missing],
            f"not found, but {trained[present[0]]} is: train both stages (or remove it to use the release weights)",
        )
    return str(models_dir / "release" / f"{stage}.pt")
