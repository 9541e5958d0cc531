"""Ensembles of same-architecture networks: probability averaging, members from a release manifest, loading."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from liver3d.networks import (
    ProbabilityEnsemble,
    WeightsError,
    ensemble_members,
    ensemble_of,
    export_release_weights,
    require_member_weights,
)


def _conv(seed: int) -> nn.Conv3d:
    torch.manual_seed(seed)
    return nn.Conv3d(1, 3, 1)


def test_ensemble_output_is_the_log_of_the_mean_member_probability():
    a, b = _conv(0), _conv(1)
    x = torch.rand(2, 1, 4, 3, 2)
    out = ProbabilityEnsemble([a, b])(x)
    expected = (torch.softmax(a(x), 1) + torch.softmax(b(x), 1)) / 2
    assert torch.allclose(torch.softmax(out, 1), expected, atol=1e-6)
    assert torch.allclose(out.exp(), expected, atol=1e-6)  # already normalised: exp gives the mean back
    with pytest.raises(ValueError, match="two members"):
        ProbabilityEnsemble([a])


def test_one_member_is_the_network_itself_and_more_are_independent_copies():
    net = _conv(0)
    assert ensemble_of(net, 1) is net
    ens = ensemble_of(net, 3)
    assert isinstance(ens, ProbabilityEnsemble) and len(ens.members) == 3
    with torch.no_grad():
        ens.members[1].weight.zero_()
    assert not torch.equal(ens.members[0].weight, ens.members[1].weight)
    with pytest.raises(ValueError):
        ensemble_of(net, 0)


def _release(tmp_path, ensembles=None):
    sources = {}
    for name, seed in (("stage2", 0), ("stage2_b", 1)):
        sources[name] = tmp_path / f"{name}_src.pt"
        torch.save(_conv(seed).state_dict(), sources[name])
    return export_release_weights(sources, tmp_path / "release", {"recipe": "test"}, ensembles)


def test_release_manifest_declares_the_members_and_each_is_checked_at_load(tmp_path):
    release = _release(tmp_path, {"stage2": ["stage2", "stage2_b"]})
    head = release / "stage2.pt"
    members = ensemble_members(head)
    assert members == [str(head), str(release / "stage2_b.pt")]
    ens = require_member_weights(ensemble_of(_conv(5), len(members)), members)
    x = torch.rand(1, 1, 2, 2, 2)
    expected = (torch.softmax(_conv(0)(x), 1) + torch.softmax(_conv(1)(x), 1)) / 2
    assert torch.allclose(torch.softmax(ens(x), 1), expected, atol=1e-2)  # weights stored in float16
    # A member file changed after release is refused by its checksum, naming that file.
    (release / "stage2_b.pt").write_bytes((release / "stage2_b.pt").read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(WeightsError, match="stage2_b.pt.*checksum"):
        require_member_weights(ensemble_of(_conv(5), 2), members)


def test_a_file_without_an_ensemble_entry_is_one_member(tmp_path):
    release = _release(tmp_path)
    assert ensemble_members(release / "stage2.pt") == [str(release / "stage2.pt")]
    assert ensemble_members(tmp_path / "elsewhere" / "model.pt") == [str(tmp_path / "elsewhere" / "model.pt")]
    net = require_member_weights(_conv(5), [release / "stage2.pt"])
    assert isinstance(net, nn.Conv3d)


def test_bad_ensemble_declarations_are_one_line_errors(tmp_path):
    release = _release(tmp_path, {"stage2": ["stage2", "stage2_b"]})
    manifest = json.loads((release / "manifest.json").read_text())
    manifest["ensembles"] = {"stage2.pt": ["stage2_b.pt", "stage2.pt"]}
    (release / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match="must be a list that starts with it"):
        ensemble_members(release / "stage2.pt")
    with pytest.raises(WeightsError, match="2 weight file"):
        require_member_weights(_conv(0), [release / "stage2.pt", release / "stage2_b.pt"])
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ValueError, match="without a source"):
        _release(other, {"stage2": ["stage2", "stage2_c"]})
    with pytest.raises(ValueError, match="must list stage2 first"):
        _release(other, {"stage2": ["stage2_b", "stage2"]})
    with pytest.raises(ValueError, match="without a source"):
        _release(other, {"stage9": ["stage9", "stage2"]})


@pytest.mark.parametrize(
    ("ensembles", "message"),
    [
        (["stage2.pt", "stage2_b.pt"], "must map a weights file"),
        ({"stage2.pt": ["stage2.pt", 3]}, "3 of stage2.pt is not a file name"),
        ({"stage2.pt": ["stage2.pt", "../stage2_b.pt"]}, "not a file name beside it"),
        ({"stage2.pt": ["stage2.pt", "stage2.pt"]}, "lists a member twice"),
        ({"stage2.pt": []}, "must be a list that starts with it"),
    ],
)
def test_malformed_ensemble_entries_are_weights_errors(tmp_path, ensembles, message):
    release = _release(tmp_path, {"stage2": ["stage2", "stage2_b"]})
    manifest = json.loads((release / "manifest.json").read_text())
    manifest["ensembles"] = ensembles
    (release / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match=message):
        ensemble_members(release / "stage2.pt")
    (release / "manifest.json").write_text("[]")
    with pytest.raises(WeightsError, match="must map a weights file"):
        ensemble_members(release / "stage2.pt")
