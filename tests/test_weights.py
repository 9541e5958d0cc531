import hashlib
import json
import os
import shlex

import pytest
import torch
from bundle_utils import pickled_names
from torch import nn

from liver3d.engines.checkpoints import load_model_weights
from liver3d.networks.pretrained import read_state_dict
from liver3d.networks.weights import (
    WeightsError,
    export_release_weights,
    load_weights,
    read_weights,
    require_weights,
    sha256_of,
    stage_checkpoint,
    verify_checksum,
)


class _RunsCode:
    """Unpickles into a shell command that writes ``marker``: what a malicious checkpoint does."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"echo pwned > {shlex.quote(self.marker)}",))


def _linear(seed: int = 0, in_features: int = 3) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(in_features, 2)


@pytest.fixture
def crafted(tmp_path):
    """A checkpoint whose pickle runs code, and the file that code would create."""
    marker = tmp_path / "marker.txt"
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2, 3), "payload": _RunsCode(marker)}, path)
    return path, marker


def _saved(tmp_path, state, name="weights.pt"):
    path = tmp_path / name
    torch.save(state, path)
    return path


# -- reading --------------------------------------------------------------------------------------------


def test_crafted_checkpoint_is_refused_without_running_code(crafted):
    path, marker = crafted
    with pytest.raises(WeightsError) as info:
        read_weights(path)
    assert not marker.exists()
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "refused" in message
    assert info.value.path == str(path) and "\n" not in message
    # The file really is malicious: its pickle calls os.system (read with pickletools, nothing run).
    assert "system" in pickled_names(path) and not marker.exists()


def test_pretrained_and_checkpoint_readers_refuse_the_crafted_file_too(crafted):
    path, marker = crafted
    with pytest.raises(WeightsError, match="refused"):
        read_state_dict(path)
    with pytest.raises(WeightsError, match="refused"):
        load_model_weights(path)
    assert not marker.exists()


def test_plain_and_wrapped_state_dicts_are_read(tmp_path):
    net = _linear()
    plain = read_weights(_saved(tmp_path, net.state_dict(), "plain.pt"))
    assert set(plain) == {"weight", "bias"} and torch.equal(plain["weight"], net.weight.detach())
    full = {"model": net.state_dict(), "optimizer": {"state": {}, "param_groups": []}, "epoch": 4}
    assert set(read_weights(_saved(tmp_path, full, "full.pt"))) == {"weight", "bias"}
    teacher = {"teacher": {"module.weight": net.weight.detach()}}
    assert set(read_state_dict(_saved(tmp_path, teacher, "dino.pt"))) == {"weight"}  # prefix stripped


def test_truncated_file_is_reported_as_truncated(tmp_path):
    path = _saved(tmp_path, _linear().state_dict())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt") as info:
        read_weights(path)
    assert str(path) in str(info.value)


def test_file_that_is_not_a_torch_file_names_the_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are not weights\n", encoding="utf-8")
    with pytest.raises(WeightsError) as info:
        read_weights(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "not a PyTorch weights file" in str(info.value)


def test_missing_file_and_file_without_tensors_are_reported(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        read_weights(tmp_path / "absent.pt")
    with pytest.raises(WeightsError, match="no tensors"):
        read_weights(_saved(tmp_path, {"epoch": 3, "note": "empty"}))


# -- checksums ----------------------------------------------------------------------------------------


def _manifest(path, sha256: str) -> None:
    (path.parent / "manifest.json").write_text(
        json.dumps({"files": {path.name: {"sha256": sha256}}}), encoding="utf-8"
    )


def test_checksum_mismatch_with_the_manifest_is_refused(tmp_path):
    path = _saved(tmp_path, _linear().state_dict())
    _manifest(path, "0" * 64)
    with pytest.raises(WeightsError, match="checksum mismatch") as info:
        read_weights(path)
    assert str(path) in str(info.value)
    assert set(read_weights(path, check=False)) == {"weight", "bias"}  # check=False skips the manifest


def test_matching_checksum_is_accepted(tmp_path):
    path = _saved(tmp_path, _linear().state_dict())
    _manifest(path, hashlib.sha256(path.read_bytes()).hexdigest())
    verify_checksum(path)
    assert set(read_weights(path)) == {"weight", "bias"}
    with pytest.raises(WeightsError, match="checksum mismatch"):
        verify_checksum(path, expected="f" * 64)


# -- loading into a network ---------------------------------------------------------------------------


def test_wrong_shape_does_not_fit_the_network(tmp_path):
    path = _saved(tmp_path, _linear(in_features=4).state_dict())
    net = _linear(1)
    before = net.weight.detach().clone()
    with pytest.raises(WeightsError, match="does not fit the network") as info:
        load_weights(net, path)
    assert "shape mismatch" in str(info.value) and "weight" in str(info.value)
    assert torch.equal(net.weight.detach(), before)  # nothing was loaded


def test_missing_and_unexpected_keys_do_not_fit_the_network(tmp_path):
    state = dict(_linear().state_dict())
    state["extra.weight"] = state.pop("bias")
    with pytest.raises(WeightsError, match="missing key.*bias.*unexpected key.*extra.weight"):
        load_weights(_linear(), _saved(tmp_path, state))


def test_require_weights_raises_and_the_bundle_helper_prints_one_error_line(tmp_path, capsys):
    from liver3d.bundle_support import checked, raise_input_errors

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(WeightsError):
        require_weights(_linear(), bad)
    with pytest.raises(SystemExit) as info:
        checked(require_weights, _linear(), bad)
    assert info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert (
        lines[0].startswith("ERROR ")
        and str(bad) in lines[0]
        and lines[1].startswith("stopped before writing")
    )
    with raise_input_errors(), pytest.raises(WeightsError):  # in-process callers get the typed error
        checked(require_weights, _linear(), bad)


def test_require_weights_returns_the_loaded_network(tmp_path):
    source = _linear(3)
    net = require_weights(_linear(4), _saved(tmp_path, source.state_dict()))
    assert torch.equal(net.weight, source.weight)


# -- release weights -------------------------------------------------------------------------------------


def _net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    net[1].running_mean += torch.rand(2)
    net[1].num_batches_tracked += 7
    return net


def test_release_weights_are_half_precision_with_matching_manifest(tmp_path):
    source = _net(5)
    src = _saved(tmp_path, source.state_dict(), "model.pt")
    out = export_release_weights({"stage1": src}, tmp_path / "release", {"epochs": 3})
    target = out / "stage1.pt"
    entry = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["files"]["stage1.pt"]
    assert entry["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest() == sha256_of(target)
    assert entry["bytes"] == target.stat().st_size and entry["dtype"] == "float16"
    assert json.loads((out / "training.json").read_text(encoding="utf-8")) == {"epochs": 3}
    stored = torch.load(target, weights_only=True)
    assert set(stored) == set(source.state_dict())
    assert stored["0.weight"].dtype == torch.float16 and stored["1.running_mean"].dtype == torch.float16
    assert stored["1.num_batches_tracked"].dtype == torch.int64  # integers stay integers
    net = load_weights(_net(6), target)  # check=True: verified against manifest.json
    for key, value in source.state_dict().items():
        loaded = net.state_dict()[key]
        assert loaded.dtype == value.dtype  # cast back to the network's dtype
        assert torch.allclose(loaded.double(), value.double(), rtol=1e-3, atol=1e-3), key


def test_release_file_loads_back_into_the_network_with_checksum(tmp_path):
    source = _linear(7)
    out = export_release_weights(
        {"coarse": _saved(tmp_path, source.state_dict(), "m.pt")}, tmp_path / "release", {}
    )
    net = load_weights(_linear(8), out / "coarse.pt")  # check=True: verified against manifest.json
    assert net.weight.dtype == torch.float32
    assert torch.allclose(net.weight, source.weight, rtol=1e-3, atol=1e-3)
    assert torch.allclose(net.bias, source.bias, rtol=1e-3, atol=1e-3)
    data = bytearray((out / "coarse.pt").read_bytes())
    data[-30] ^= 0xFF  # damage the released file
    (out / "coarse.pt").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_weights(_linear(), out / "coarse.pt")


def test_stage_checkpoint_prefers_a_trained_cascade_over_release(tmp_path):
    assert stage_checkpoint(tmp_path, "stage1") == str(tmp_path / "release" / "stage1.pt")
    (tmp_path / "stage1").mkdir()
    assert stage_checkpoint(tmp_path, "stage1") == str(tmp_path / "release" / "stage1.pt")  # folder, no model
    (tmp_path / "stage1" / "model.pt").write_bytes(b"")
    (tmp_path / "stage2").mkdir()
    (tmp_path / "stage2" / "model.pt").write_bytes(b"")
    assert stage_checkpoint(str(tmp_path), "stage1") == str(tmp_path / "stage1" / "model.pt")
    assert stage_checkpoint(tmp_path, "stage2") == str(tmp_path / "stage2" / "model.pt")


def test_stage_checkpoint_refuses_to_mix_a_trained_stage_with_a_release_stage(tmp_path):
    (tmp_path / "stage1").mkdir()
    (tmp_path / "stage1" / "model.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"stage2/model\.pt: not found, but .*stage1/model\.pt is"):
        stage_checkpoint(tmp_path, "stage2")
