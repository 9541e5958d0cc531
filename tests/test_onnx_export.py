"""ONNX export of the cascade: onnxruntime reproduces PyTorch within 1e-4, at other sizes too; refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.networks.nets import UNet

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from liver3d.cli import main as cli  # noqa: E402
from liver3d.export import onnx as onnx_export  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    assert cli(["export", "onnx", "-o", str(out)]) == 0
    return out


def test_both_stages_match_pytorch_and_are_recorded(exported):
    import onnxruntime as ort

    record = json.loads((exported / "onnx_export.json").read_text())
    networks = onnx_export.cascade_networks()
    for stage in ("stage1", "stage2"):
        entry = record["stages"][stage]
        assert (
            entry["max_abs_difference"] <= 1e-4
            and entry["torch_cpu_s"] > 0
            and entry["onnxruntime_cpu_s"] > 0
        )
        assert entry["weights"].endswith(f"release/{stage}.pt") and len(entry["onnx_sha256"]) == 64
        manifest = json.loads((Path(entry["weights"]).parent / "manifest.json").read_text())
        assert entry["members"] == {
            name: manifest["files"][name]["sha256"]
            for name in manifest.get("ensembles", {}).get(f"{stage}.pt", [f"{stage}.pt"])
        }
        # Dynamic axes: another batch and spatial size (multiples of 16) give the same logits as PyTorch.
        session = ort.InferenceSession(str(exported / entry["onnx"]), providers=["CPUExecutionProvider"])
        x = torch.rand(1, 1, 64, 48, 32, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = networks[stage][0](x).numpy()
        got = session.run(None, {"image": x.numpy()})[0]
        assert got.shape == (1, 3, 64, 48, 32) and np.abs(got - expected).max() <= 1e-4


def _tiny():
    return UNet(3, 1, 3, (4, 8), (2,), num_res_units=1, norm="batch").eval()


def test_a_difference_beyond_the_tolerance_is_refused_and_removed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        onnx_export, "cascade_networks", lambda root=None: {"stage1": (_tiny(), __file__, [16, 16, 16])}
    )
    monkeypatch.setattr(onnx_export, "sha256_of", lambda p: "0" * 64)
    assert cli(["export", "onnx", "-o", str(tmp_path), "--tolerance", "-1"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "differs from PyTorch" in errors[0]
    assert not (tmp_path / "stage1.onnx").exists() and not (tmp_path / "onnx_export.json").exists()


def test_unknown_export_format(capsys):
    assert cli(["export", "torchscript"]) == 2
    assert "usage: liver3d export {onnx}" in capsys.readouterr().err
