"""The tumor_patch_ae bundle and liver3d.ae: configs (AE, VAE, 2D), a tiny train + analysis run, error-map
geometry, latent export, and the anomaly scoring on a hand-made case."""

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.bundle import run as bundle_run

from liver3d.ae import ReconstructionLoss, latent_vectors, reconstruction, score_error_map
from liver3d.manifest import read_result_manifest

CONFIGS = Path(__file__).resolve().parents[1] / "bundles" / "tumor_patch_ae" / "configs"


def _parser(*names, **overrides):
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / n) for n in names])
    parser.read_meta(str(CONFIGS / "metadata.json"))
    for key, value in overrides.items():
        parser[key] = value
    return parser


@pytest.mark.parametrize(
    "extra, shape",
    [((), (2, 1, 16, 16, 16)), (("vae.json",), (2, 1, 16, 16, 16)), (("ae_2d.json",), (2, 1, 16, 16, 1))],
)
def test_networks_reconstruct_patches_and_give_latents(extra, shape):
    patch = list(shape[2:])
    net = _parser("train.json", *extra, patch_size=patch).get_parsed_content("network_def").eval()
    x = torch.rand(shape)
    out = net(x)
    assert reconstruction(out).shape == shape
    assert ReconstructionLoss()(out, x).ndim == 0
    codes = latent_vectors(net, x)
    assert codes.shape[0] == 2 and codes.ndim == 2


@pytest.mark.parametrize("extra, patch", [((), [16, 16, 16]), (("ae_2d.json",), [16, 16, 1])])
def test_bundle_trains_and_writes_error_maps_latents_and_scores(phantom_dir, tmp_path, extra, patch):
    root = tmp_path / "ae"
    files = [str(CONFIGS / n) for n in ("train.json", *extra)]
    common = {
        "bundle_root": str(root),
        "patch_size": patch,
        "progress_bar": False,
        "meta_file": str(CONFIGS / "metadata.json"),
    }
    bundle_run(
        config_file=files,
        dataset_dir=str(phantom_dir),
        max_epochs=1,
        val_interval=1,
        val_fraction=0.5,
        num_samples=2,
        **common,
    )
    assert (root / "models" / "model.pt").is_file()
    bundle_run(
        config_file=[*files, str(CONFIGS / "evaluate.json")],
        eval_dataset_dir=str(phantom_dir),
        max_latents_per_case=20,
        **common,
    )
    out = root / "eval" / "test"
    dataset = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"]
    for entry in dataset:
        image = nib.load(str(phantom_dir / entry["image"]))
        error = nib.load(str(out / "error_maps" / f"{entry['case_id']}_recon_error.nii.gz"))
        assert error.shape == image.shape
        np.testing.assert_allclose(error.affine, image.affine, atol=1e-4)
        assert np.asarray(error.dataobj).min() >= -1e-6
    summary = json.loads((out / "anomaly_summary.json").read_text(encoding="utf-8"))
    assert summary["cases"] == len(dataset) and summary["cases_with_tumor"] == sum(
        e["has_tumor"] for e in dataset
    )
    with open(out / "latents.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    latents = np.load(out / "latents.npz")
    assert len(rows) == len(latents["vectors"]) and set(latents["classes"]) <= {"liver", "tumor"}
    assert "tsne_x" in rows[0] and (out / "latents_tsne.png").read_bytes()[:4] == b"\x89PNG"
    # inference.json: the same error maps from the images alone, listed in result.json
    bundle_run(
        config_file=[*files, str(CONFIGS / "inference.json")],
        input=str(phantom_dir / "imagesTr"),
        output_dir=str(tmp_path / "infer"),
        **common,
    )
    manifest = read_result_manifest(tmp_path / "infer")
    assert [c["case"] for c in manifest["cases"]] == sorted(e["case_id"] for e in dataset)
    for case in manifest["cases"]:
        produced = case["outputs"]["error_map"]
        assert produced["kind"] == "error_map" and "reconstruction error" in produced["meaning"]
        evaluated = nib.load(str(out / "error_maps" / f"{case['case']}_recon_error.nii.gz"))
        np.testing.assert_allclose(
            np.asarray(nib.load(produced["path"]).dataobj), np.asarray(evaluated.dataobj), atol=1e-6
        )
    assert manifest["settings"]["patch_size"] == patch


def test_error_map_scoring_on_a_hand_made_case():
    label = np.zeros((20, 20, 10), np.uint8)
    label[2:18, 2:18, 2:8] = 1
    label[4:7, 4:7, 3:6] = 2
    label[12:15, 12:15, 3:6] = 2
    rng = np.random.default_rng(0)
    error = rng.random(label.shape) * 0.1
    error[4:7, 4:7, 3:6] += 1.0  # the first lesion stands out, the second does not
    scores = score_error_map(error, label, liver_fpr=0.05)
    assert scores["lesions"] == 2 and scores["lesions_hit"] == 1
    assert 0.7 < scores["auroc"] < 0.8  # half the tumor voxels rank above all parenchyma, half at random
    assert scores["threshold"] == pytest.approx(np.quantile(error[label == 1], 0.95))
