"""ONNX export of the segmentation cascade's two stages, checked against PyTorch with onnxruntime.

``liver3d export onnx -o DIR`` (or :func:`export_cascade`) builds each stage's network from the bundle's
``inference.json``, loads its weights through the safe loader (the shipped release weights unless the bundle
root holds a trained cascade), and writes ``stage1.onnx`` and ``stage2.onnx`` with dynamic batch and spatial
axes (spatial sizes must stay multiples of 16, the U-Net's total stride), plus ``onnx_export.json``: per stage
the SHA-256 of the weights it came from (of every member for an ensemble) and of the ONNX file, the opset, the largest absolute difference
between onnxruntime's and PyTorch's logits on a test input, and both runtimes' CPU seconds per patch.

Inputs are what the bundle's preprocessing gives the network: (B, 1, X, Y, Z) float32, the liver window scaled
to [0, 1], RAS, on the stage's grid (``pixdim`` x ``coarse_factor`` for stage 1, ``fine_pixdim`` for stage 2);
outputs are logits (B, 3, X, Y, Z) for background, liver, tumor; for a stage that ships as an ensemble, the log
of its members' mean probability (a softmax of either gives the class probabilities). Needs the ``onnx`` extra
(``pip install 'liver3d[onnx]'``: onnx, onnxscript, onnxruntime); nothing here downloads anything.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from liver3d.errors import InputError
from liver3d.io.atomic import atomic_path, write_json_atomic
from liver3d.networks.ensemble import ensemble_members, ensemble_of, require_member_weights
from liver3d.networks.weights import sha256_of, stage_checkpoint

log = logging.getLogger(__name__)
OPSET = 18


class ExportError(InputError):
    """An export that cannot be made or does not reproduce PyTorch: ``<path>: <problem>``."""


def _runtime():
    try:
        import onnxruntime
    except ImportError as err:
        raise ExportError("onnxruntime", "not installed: pip install 'liver3d[onnx]'") from err
    return onnxruntime


def export_network(network: torch.nn.Module, path: str | Path, example: torch.Tensor) -> Path:
    """Write ``network`` (eval mode) as ONNX with dynamic batch and spatial axes; returns ``path``."""
    from torch.export import Dim

    try:
        import onnxscript  # noqa: F401  (the exporter needs it)
    except ImportError as err:
        raise ExportError("onnxscript", "not installed: pip install 'liver3d[onnx]'") from err
    network = network.eval()
    batch = Dim("batch", min=1, max=256)
    shapes = ({0: batch, 2: Dim.AUTO, 3: Dim.AUTO, 4: Dim.AUTO},)
    program = torch.onnx.export(
        network, (example,), input_names=["image"], output_names=["logits"], dynamic_shapes=shapes,
        opset_version=OPSET, dynamo=True, verbose=False,
    )  # fmt: skip
    path = Path(path)
    with atomic_path(path) as tmp:
        program.save(str(tmp))
    return path


def compare_with_torch(
    network: torch.nn.Module, path: str | Path, inputs: torch.Tensor, repeats: int = 3
) -> dict[str, float]:
    """Run both runtimes on ``inputs``: largest absolute logit difference and seconds per call of each."""
    ort = _runtime()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    network = network.eval()
    with torch.no_grad():
        expected = network(inputs).numpy()
        start = time.perf_counter()
        for _ in range(repeats):
            network(inputs)
        torch_s = (time.perf_counter() - start) / repeats
    feed = {"image": inputs.numpy()}
    got = session.run(None, feed)[0]
    start = time.perf_counter()
    for _ in range(repeats):
        session.run(None, feed)
    onnx_s = (time.perf_counter() - start) / repeats
    return {
        "max_abs_difference": float(np.abs(got - expected).max()),
        "torch_cpu_s": round(torch_s, 4),
        "onnxruntime_cpu_s": round(onnx_s, 4),
        "input_shape": list(inputs.shape),
    }


def cascade_networks(
    bundle_root: str | Path | None = None,
) -> dict[str, tuple[torch.nn.Module, str, list[int]]]:
    """Each stage's network (weights loaded), the weights file, and its patch size, from inference.json."""
    from monai.bundle import ConfigParser

    from liver3d.paths import bundle_dir

    bundle = bundle_dir("liver_tumor_seg")
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    root = Path(bundle_root) if bundle_root is not None else bundle
    parser["bundle_root"] = str(root)
    roi = [int(v) for v in parser.get_parsed_content("roi_size")]
    networks = {}
    for stage in ("stage1", "stage2"):
        weights = stage_checkpoint(root / "models", stage)
        members = ensemble_members(weights)  # an ensemble exports as one graph that averages its members
        network = ensemble_of(
            parser.get_parsed_content("network_def", instantiate=True, lazy=False), len(members)
        )
        networks[stage] = (require_member_weights(network, members).eval(), weights, roi)
    return networks


def export_cascade(
    out_dir: str | Path, bundle_root: str | Path | None = None, tolerance: float = 1e-4
) -> Path:
    """``stage1.onnx``, ``stage2.onnx`` and ``onnx_export.json`` under ``out_dir``; checked within ``tolerance``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    record: dict = {"opset": OPSET, "tolerance": tolerance, "stages": {}}
    for stage, (network, weights, roi) in cascade_networks(bundle_root).items():
        example = torch.rand(1, 1, *roi, generator=generator)
        path = export_network(network, out_dir / f"{stage}.onnx", example)
        check = compare_with_torch(network, path, torch.rand(2, 1, *roi, generator=generator))
        if not check["max_abs_difference"] <= tolerance:
            path.unlink(missing_ok=True)
            raise ExportError(
                path, f"onnxruntime differs from PyTorch by {check['max_abs_difference']:.2e} > {tolerance:g}"
            )
        record["stages"][stage] = {
            "onnx": path.name,
            "onnx_sha256": sha256_of(path),
            "weights": str(weights),
            "weights_sha256": sha256_of(weights),
            "members": {Path(m).name: sha256_of(m) for m in ensemble_members(weights)},
            **check,
        }
        log.info("%s: %s (max |difference| %.1e)", stage, path, check["max_abs_difference"])
    write_json_atomic(out_dir / "onnx_export.json", record)
    return out_dir / "onnx_export.json"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="liver3d export onnx", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o", "--output", required=True, help="folder for stage1.onnx, stage2.onnx, onnx_export.json"
    )
    parser.add_argument(
        "--bundle-root", default=None, help="a trained bundle root (default: the shipped weights)"
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="largest accepted |onnxruntime - PyTorch|"
    )
    args = parser.parse_args(argv)
    try:
        record = json.loads(export_cascade(args.output, args.bundle_root, args.tolerance).read_text())
    except InputError as err:
        print(f"ERROR {err.path}: {err.problem}", file=sys.stderr)
        return 1
    for stage, r in record["stages"].items():
        print(
            f"{stage}: {Path(args.output) / r['onnx']}  max |ONNX - PyTorch| {r['max_abs_difference']:.1e}; "
            f"CPU s per {r['input_shape']} batch: PyTorch {r['torch_cpu_s']}, onnxruntime {r['onnxruntime_cpu_s']}"
        )
    return 0
