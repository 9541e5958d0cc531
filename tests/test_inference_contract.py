"""The inference contract: every bundle declares what its inference.json writes (metadata.json,
``liver3d_inference``) and lists it after each run in result.json (liver3d.manifest)."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
from app_utils import write_untrained_models
from monai.bundle import run as bundle_run
from PIL import Image

from liver3d.app import load_registry
from liver3d.manifest import KINDS, ManifestError, declared_files, read_result_manifest, write_result_manifest
from liver3d.paths import bundle_dir, bundle_names


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return {e.name: e for e in load_registry(write_untrained_models(tmp_path_factory.mktemp("models")))}


def _run(entry, configs, **overrides):
    root = bundle_dir(entry.bundle) / "configs"
    bundle_run(
        config_file=[str(root / c) for c in configs],
        meta_file=str(root / "metadata.json"),
        **{**entry.overrides, **overrides},
    )


def test_every_bundle_declares_its_inference_outputs():
    assert len(bundle_names()) == 5
    for name in bundle_names():
        configs = bundle_dir(name) / "configs"
        metadata = json.loads((configs / "metadata.json").read_text(encoding="utf-8"))
        contract = metadata["liver3d_inference"]
        assert contract["configs"][-1] == "inference.json", name
        assert all((configs / c).is_file() for c in contract["configs"]), name
        assert contract["accepts"] in ("volume", "image2d")
        files = declared_files(metadata)
        assert files and all(f.kind in KINDS and f.meaning for f in files.values())


def test_manifest_lists_declared_files_that_exist_and_refuses_bad_ones(tmp_path):
    metadata = {
        "name": "toy",
        "version": "1",
        "liver3d_inference": {
            "configs": ["inference.json"],
            "result_files": {
                "map": {"pattern": "{case}_map.nii.gz", "kind": "error_map", "meaning": "a map"},
                "table": {"pattern": "summary.csv", "kind": "table"},
                "absent": {"pattern": "{case}_absent.nii.gz", "kind": "cam_volume"},
            },
        },
    }
    (tmp_path / "a_map.nii.gz").write_bytes(b"x")
    (tmp_path / "summary.csv").write_text("a\n")
    path = write_result_manifest(tmp_path, metadata, [{"case": "a", "input": "/in/a.nii.gz"}], {"k": 1})
    record = read_result_manifest(path)
    assert record["bundle"] == "toy" and record["settings"] == {"k": 1}
    (case,) = record["cases"]
    assert case["input"] == "/in/a.nii.gz" and set(case["outputs"]) == {"map"}
    assert case["outputs"]["map"] == {
        "path": str(tmp_path / "a_map.nii.gz"),
        "kind": "error_map",
        "meaning": "a map",
    }
    assert record["outputs"]["table"]["meaning"] == KINDS["table"]  # the kind's meaning by default
    (tmp_path / "a_map.nii.gz").unlink()
    with pytest.raises(ManifestError, match="map file missing"):
        read_result_manifest(tmp_path)
    with pytest.raises(ManifestError, match="result manifest not found"):
        read_result_manifest(tmp_path / "elsewhere")
    metadata["liver3d_inference"]["result_files"]["map"]["kind"] = "hologram"
    with pytest.raises(ManifestError, match="needs a 'pattern' and a 'kind'"):
        declared_files(metadata)


def test_segmentation_inference_writes_its_manifest(models, phantom_dir, tmp_path):
    _run(models["cascade"], ["inference.json"], input=str(phantom_dir), output_dir=str(tmp_path))
    record = read_result_manifest(tmp_path)
    assert len(record["cases"]) == 4 and record["settings"]["min_lesion_ml"] == 1.0
    for case in record["cases"]:
        assert case["outputs"]["label_map"]["path"] == str(tmp_path / f"{case['case']}_seg.nii.gz")
        assert set(case["outputs"]) == {"label_map", "slicer_segmentation"}


def test_slice_classifier_inference_gives_slice_probabilities_and_cams(models, phantom_dir, tmp_path):
    source = sorted((phantom_dir / "imagesTr").glob("*.nii.gz"))[0]
    _run(
        models["slices"],
        ["train.json", "evaluate_cam.json", "inference.json"],
        input=str(source),
        output_dir=str(tmp_path),
    )
    (case,) = read_result_manifest(tmp_path)["cases"]
    image = nib.load(source)
    with open(case["outputs"]["slice_probabilities"]["path"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == image.shape[2]
    assert np.allclose([sum(float(r[k]) for k in r if k.startswith("p_")) for r in rows], 1.0, atol=1e-3)
    for structure in ("liver", "tumor"):
        item = case["outputs"][f"cam_{structure}"]
        cam = nib.load(item["path"])
        assert item["structure"] == structure and cam.shape == image.shape
        assert np.allclose(cam.affine, image.affine, atol=1e-4)


def test_slice_classifier_on_liver_crops_needs_the_liver_mask(models, phantom_dir, tmp_path, capsys):
    source = sorted((phantom_dir / "imagesTr").glob("*.nii.gz"))[0]
    configs = ["train.json", "evaluate_cam.json", "inference.json"]
    with pytest.raises(SystemExit) as stop:
        _run(models["slices"], configs, input=str(source), liver_roi=True, output_dir=str(tmp_path / "a"))
    assert stop.value.code == 1
    assert f"ERROR {source}: this model classifies slices of the liver ROI" in capsys.readouterr().err
    assert not (tmp_path / "a" / "result.json").exists()
    label = phantom_dir / "labelsTr" / source.name
    _run(
        models["slices"],
        configs,
        input=str(source),
        input_label=str(label),
        liver_roi=True,
        output_dir=str(tmp_path / "b"),
    )
    record = read_result_manifest(tmp_path / "b")
    assert record["settings"]["liver_roi"] is True
    (case,) = record["cases"]
    cam = nib.load(case["outputs"]["cam_liver"]["path"])  # the crop's geometry: test_classification_bundles
    assert cam.shape == nib.load(source).shape and np.allclose(cam.affine, nib.load(source).affine, atol=1e-4)


def test_volume_classifier_inference_needs_the_liver_mask_of_a_roi_model(
    models, phantom_dir, tmp_path, capsys
):
    source = sorted((phantom_dir / "imagesTr").glob("*.nii.gz"))[0]
    configs = ["train.json", "evaluate_cam.json", "inference.json"]
    with pytest.raises(SystemExit) as stop:
        _run(models["presence"], configs, input=str(source), output_dir=str(tmp_path / "a"))
    assert stop.value.code == 1
    assert f"ERROR {source}: this model classifies the liver ROI" in capsys.readouterr().err
    assert not (tmp_path / "a" / "result.json").exists()
    label = phantom_dir / "labelsTr" / source.name
    _run(
        models["presence"], configs, input=str(source), input_label=str(label), output_dir=str(tmp_path / "b")
    )
    (case,) = read_result_manifest(tmp_path / "b")["cases"]
    probabilities = json.loads(open(case["outputs"]["class_probabilities"]["path"], encoding="utf-8").read())
    assert set(probabilities) == {"no_tumor", "tumor"} and abs(sum(probabilities.values()) - 1) < 1e-3
    assert nib.load(case["outputs"]["cam_tumor"]["path"]).shape == nib.load(source).shape


def test_image_classifier_inference_on_a_folder_of_images(models, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        array = np.zeros((40, 50), np.uint8)
        array[10:30, 10 + 5 * i : 40] = 200
        Image.fromarray(array).save(folder / f"chest{i}.png")
    _run(
        models["xray"],
        [*models["xray"].configs, "inference.json"],
        input=str(folder),
        output_dir=str(tmp_path / "out"),
    )
    record = read_result_manifest(tmp_path / "out")
    assert [c["case"] for c in record["cases"]] == ["chest0", "chest1"]
    regions = json.loads(open(record["outputs"]["cam_regions"]["path"], encoding="utf-8").read())
    assert len(regions) == 2 and all(set(r["probabilities"]) == {"normal", "pneumonia"} for r in regions)
    assert record["settings"]["study"] == "xray_pneumonia"
