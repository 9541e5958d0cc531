"""The shipped release weights: present, checksummed, loadable without code, and usable with no training step."""

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from liver3d.networks import load_weights, read_weights, stage_checkpoint, verify_checksum
from liver3d.networks.weights import WeightsError, sha256_of
from liver3d.paths import REPO_ROOT
from liver3d.phantoms import generate_phantom

RELEASE = REPO_ROOT / "bundles" / "liver_tumor_seg" / "models" / "release"
CONFIGS = REPO_ROOT / "bundles" / "liver_tumor_seg" / "configs"


def _network():
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    return parser.get_parsed_content("network_def")


def test_release_files_are_small_half_precision_and_match_their_manifest():
    record = json.loads((RELEASE / "manifest.json").read_text(encoding="utf-8"))
    manifest = record["files"]
    assert {"stage1.pt", "stage2.pt"} <= set(manifest)
    # Every other file is a declared ensemble member, with its recipe in training.json.
    members = [name for names in record.get("ensembles", {}).values() for name in names]
    assert set(manifest) == {"stage1.pt", "stage2.pt", *members}
    for name, entry in manifest.items():
        path = RELEASE / name
        assert path.stat().st_size == entry["bytes"] <= 25 * 2**20
        assert sha256_of(path) == entry["sha256"]
        state = read_weights(path)
        assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    training = json.loads((RELEASE / "training.json").read_text(encoding="utf-8"))
    assert training["phantom_generator_version"] and training["stages"]["stage2"]["epochs_done"] > 0
    for name in set(members) - {"stage1.pt", "stage2.pt"}:
        member = training["ensemble_members"][name.removesuffix(".pt")]
        assert member["recipe"] and all(s["epochs_done"] > 0 for s in member["stages"].values())


def test_the_shipped_ensemble_runs_every_member():
    from monai.bundle import ConfigParser

    from liver3d.networks import ProbabilityEnsemble, require_member_weights

    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    parser["bundle_root"] = str(REPO_ROOT / "bundles" / "liver_tumor_seg")
    declared = json.loads((RELEASE / "manifest.json").read_text(encoding="utf-8")).get("ensembles", {})
    expected = [str(RELEASE / name) for name in declared.get("stage2.pt", ["stage2.pt"])]
    assert parser.get_parsed_content("stage2_members") == expected
    assert len(expected) >= 2  # the release ships a stage-2 ensemble (model card, 0.3.0)
    network = parser.get_parsed_content("network")
    assert isinstance(network, ProbabilityEnsemble) and len(network.members) == len(expected)
    # As the bundle's initialize does: every member loads; the output is the log of their mean probability.
    require_member_weights(network, expected)
    x = torch.rand(1, 1, 32, 32, 32) * 2 - 1
    singles = [load_weights(_network(), path).eval() for path in expected]
    with torch.no_grad():
        mean = torch.stack([net(x).softmax(1) for net in singles]).mean(0)
        out = network.eval()(x)
    assert torch.allclose(out.softmax(1), mean, atol=1e-5)
    assert not torch.allclose(singles[0](x).softmax(1), mean, atol=1e-3)  # the second member matters


def test_inference_defaults_to_the_release_weights():
    models = REPO_ROOT / "bundles" / "liver_tumor_seg" / "models"
    for stage in ("stage1", "stage2"):
        assert stage_checkpoint(models, stage) == str(RELEASE / f"{stage}.pt")
        net = load_weights(_network(), RELEASE / f"{stage}.pt")
        assert next(net.parameters()).dtype == torch.float32


def test_a_changed_release_file_is_refused(tmp_path):
    for name in ("stage1.pt", "manifest.json"):
        (tmp_path / name).write_bytes((RELEASE / name).read_bytes())
    data = bytearray((tmp_path / "stage1.pt").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "stage1.pt").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        verify_checksum(tmp_path / "stage1.pt")


def test_bundle_inference_runs_the_shipped_model_on_a_tiny_ct(tmp_path):
    """python -m monai.bundle run --config_file inference.json --input CT: no training, labels on the CT's grid."""
    from monai.bundle import run

    case = generate_phantom(
        np.random.default_rng([77, 3]), shape=(64, 64, 40), phase="portal_venous", n_tumors=2
    )
    ct = tmp_path / "tiny_ct.nii.gz"
    nib.save(nib.Nifti1Image(case.image, case.affine_ras), ct)
    run(
        config_file=str(CONFIGS / "inference.json"),
        meta_file=str(CONFIGS / "metadata.json"),
        bundle_root=str(REPO_ROOT / "bundles" / "liver_tumor_seg"),
        input=str(ct),
        output_dir=str(tmp_path / "out"),
    )
    out = nib.load(tmp_path / "out" / "tiny_ct_seg.nii.gz")
    labels = np.asarray(out.dataobj)
    assert labels.shape == case.image.shape and np.allclose(out.affine, case.affine_ras)
    assert set(np.unique(labels)) <= {0, 1, 2}
    liver = labels > 0
    reference = case.label > 0
    dice = 2 * (liver & reference).sum() / (liver.sum() + reference.sum())
    assert dice > 0.6, f"shipped model's liver Dice on a tiny phantom: {dice:.3f}"


def test_segment_warns_when_the_field_of_view_holds_no_liver(tmp_path, capsys):
    """A thigh-like volume (fat, a muscle ring, bone) in air: the command says there is no liver to trust."""
    from liver3d.segment import main

    x, y = np.meshgrid(np.arange(96) - 47.5, np.arange(96) - 47.5, indexing="ij")
    r = np.sqrt(x**2 + y**2) * 2.0  # mm at 2 mm pixels
    slab = np.full((96, 96), -1000.0)
    slab[r < 80] = -100.0  # subcutaneous fat
    slab[r < 60] = 50.0  # muscle
    slab[r < 15] = 900.0  # femur
    volume = np.repeat(slab[:, :, None], 30, axis=2) + np.random.default_rng(0).normal(0, 10, (96, 96, 30))
    ct = tmp_path / "thigh.nii.gz"
    nib.save(nib.Nifti1Image(volume.astype(np.int16), np.diag([2.0, 2.0, 3.0, 1.0])), ct)
    assert main([str(ct), "-o", str(tmp_path / "out"), "--quiet", "--no-slicer"]) == 0
    out = capsys.readouterr().out
    # The shipped model calls part of the muscle ring "liver" (379 mL when measured): the position check
    # (not to the right of the body's centre) or the volume check must say the result is not a liver.
    assert "WARNING" in out and "no liver" in out
    report = json.loads((tmp_path / "out" / "thigh_report" / "report.json").read_text(encoding="utf-8"))
    assert {"no_liver", "liver_position", "body_size"} & {w["code"] for w in report["warnings"]}


def test_viewer_offers_the_shipped_model_without_a_registry():
    from liver3d.app.registry import SHIPPED_SEGMENTATION, shipped_models

    entries = shipped_models()
    assert [e.name for e in entries] == [SHIPPED_SEGMENTATION]
    assert entries[0].missing == [] and [p.name for p in entries[0].checkpoints] == ["stage1.pt", "stage2.pt"]
