"""The liver_slice_cls and liver_volume_cls bundles through MONAI's bundle API on tiny phantoms: config
combinations, training, evaluation reports, and the CAM evaluator's NIfTI geometry and tables."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from bundle_utils import parse_bundle as _parser
from bundle_utils import read_rows as _rows
from bundle_utils import run_bundle as _run
from scipy import ndimage
from sklearn import metrics as skm

from liver3d.cam import CamEvaluator

ROOT = Path(__file__).resolve().parents[1]
SLICE = ROOT / "bundles" / "liver_slice_cls" / "configs"
VOLUME = ROOT / "bundles" / "liver_volume_cls" / "configs"
SLICE_TINY = {"image_size": 32, "batch_size": 8, "progress_bar": False}
VOLUME_TINY = {"input_size": [32, 32, 16], "pixdim": [4.0, 4.0, 4.0], "progress_bar": False}


@pytest.mark.parametrize(
    "names, in_shape, classes",
    [
        (("train.json",), (2, 1, 32, 32), 3),
        (("train.json", "networks/resnet50.json", "optim_sgd_dino.json", "lr_step.json"), (2, 1, 32, 32), 3),
        (("train.json", "networks/resnet50_mlp_head.json", "context_2p5d.json"), (2, 3, 32, 32), 3),
        (("train.json", "networks/convnext_tiny.json", "evaluate.json"), (2, 1, 32, 32), 3),
        (("train.json", "evaluate_cam.json"), (2, 1, 32, 32), 3),
    ],
)
def test_slice_bundle_configs_parse(names, in_shape, classes):
    parser = _parser(SLICE, names, image_size=32)
    net = parser.get_parsed_content("network_def").eval()
    with torch.no_grad():
        assert net(torch.zeros(in_shape)).shape == (in_shape[0], classes)
    assert parser.get_parsed_content("cam_layer") in dict(net.named_modules())
    for key in ("optimizer", "lr_scheduler"):
        assert parser.get(key) is not None


@pytest.mark.parametrize(
    "names",
    [
        ("train.json",),
        ("train.json", "networks/resnet50.json", "evaluate.json"),
        ("train.json", "networks/convnext_tiny.json", "whole_volume.json"),
        ("train.json", "evaluate_cam.json"),
        ("train.json", "attribution.json"),
    ],
)
def test_volume_bundle_configs_parse(names):
    parser = _parser(VOLUME, names)
    net = parser.get_parsed_content("network_def").eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 32, 32, 32)).shape == (1, 2)
    assert parser.get_parsed_content("cam_layer") in dict(net.named_modules())


def test_slice_bundle_trains_evaluates_and_maps_cams(phantom_dir, tmp_path, capsys):
    root = tmp_path / "slice_cls"
    common = {"bundle_root": str(root), "dataset_dir": str(phantom_dir), "val_fraction": 0.5, **SLICE_TINY}
    _run(SLICE, ("train.json",), max_epochs=2, **common)
    # The best-validation checkpoint and the final one (the end of the schedule, which the evaluations use).
    assert (root / "models" / "model.pt").is_file() and (root / "models" / "model_final.pt").is_file()
    parser = _parser(SLICE, ("train.json", "evaluate.json"), bundle_root=str(root))
    assert parser.get_parsed_content("model_path") == str(root / "models" / "model_final.pt")
    curves = _rows(root / "eval" / "train" / "training_curves.csv")
    assert [int(r["epoch"]) for r in curves] == [1, 2]
    for column in ("val_balanced_accuracy", "val_recall_background", "val_recall_liver", "val_recall_tumor"):
        assert column in curves[0]

    # Evaluation over every slice of the (here: same) volumes, report numbers as sklearn computes them.
    _run(SLICE, ("train.json", "evaluate.json"), eval_dataset_dir=str(phantom_dir), **common)
    out = root / "eval" / "test"
    report = json.loads((out / "classification_report.json").read_text(encoding="utf-8"))
    predictions = _rows(out / "predictions.csv")
    assert len(predictions) == 4 * 32 == report["n"]
    names = ["background", "liver", "tumor"]
    y_true = [names.index(r["label"]) for r in predictions]
    y_pred = [names.index(r["pred"]) for r in predictions]
    assert report["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert np.array(report["confusion_matrix"]).sum() == len(predictions)
    assert {r["slice_index"] for r in predictions} == {str(i) for i in range(32)}
    assert report["ci95_resampled"] == {"unit": "patients", "n": 4}  # slices of one patient drawn together
    for png in ("confusion_matrix.png", "roc.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"

    # CAM evaluator: one CAM NIfTI per case and structure on the input's grid, tables and overlays.
    _run(SLICE, ("train.json", "evaluate_cam.json"), eval_dataset_dir=str(phantom_dir), **common)
    cam_dir = root / "eval" / "cam"
    dataset = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"]
    for entry in dataset:
        image = nib.load(str(phantom_dir / entry["image"]))
        for structure in ("liver", "tumor"):
            cam = nib.load(str(cam_dir / "cams" / f"{entry['case_id']}_cam_{structure}.nii.gz"))
            assert cam.shape == image.shape
            np.testing.assert_allclose(cam.affine, image.affine, atol=1e-4)
            data = np.asarray(cam.dataobj)
            assert data.min() >= 0 and data.max() <= 1
    summary = json.loads((cam_dir / "cam_summary.json").read_text(encoding="utf-8"))["summary"]
    assert {(r["structure"], r["protocol"]) for r in summary} == {
        ("liver", "volume"),
        ("liver", "slice"),
        ("tumor", "volume"),
        ("tumor", "slice"),
    }
    with_tumor = sum(e["has_tumor"] for e in dataset)
    per_case = _rows(cam_dir / "cam_per_case.csv")
    assert sum(r["structure"] == "tumor" for r in per_case) == with_tumor
    assert sum(r["structure"] == "liver" for r in per_case) == len(dataset)
    assert (cam_dir / "cam_best_worst_tumor.png").read_bytes()[:4] == b"\x89PNG"

    # A checkpoint of another network (1 slice in, evaluated as 3): one line naming it, before any output.
    for configs in (("train.json", "evaluate.json"), ("train.json", "evaluate_cam.json")):
        with pytest.raises(SystemExit) as stop:
            _run(
                SLICE,
                configs,
                eval_dataset_dir=str(phantom_dir),
                context=3,
                output_dir=str(tmp_path / "x"),
                **common,
            )
        assert stop.value.code == 1 and not (tmp_path / "x").exists()
        assert "model_final.pt" in capsys.readouterr().err, configs


def test_volume_bundle_trains_evaluates_and_maps_cams(phantom_dir, tmp_path):
    root = tmp_path / "volume_cls"
    common = {"bundle_root": str(root), "dataset_dir": str(phantom_dir), "val_fraction": 0.5, **VOLUME_TINY}
    _run(VOLUME, ("train.json",), max_epochs=1, **common)
    assert (root / "models" / "model.pt").is_file()
    _run(VOLUME, ("train.json", "evaluate.json"), eval_dataset_dir=str(phantom_dir), **common)
    report = json.loads((root / "eval" / "test" / "classification_report.json").read_text(encoding="utf-8"))
    dataset = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"]
    assert report["n"] == len(dataset)
    assert report["per_class"]["tumor"]["support"] == sum(e["has_tumor"] for e in dataset)
    _run(VOLUME, ("train.json", "evaluate_cam.json"), eval_dataset_dir=str(phantom_dir), **common)
    _run(
        VOLUME,
        ("train.json", "attribution.json"),
        eval_dataset_dir=str(phantom_dir),
        attribution_steps=4,
        **common,
    )
    for entry in dataset:
        image = nib.load(str(phantom_dir / entry["image"]))
        cam = nib.load(str(root / "eval" / "cam" / "cams" / f"{entry['case_id']}_cam_tumor.nii.gz"))
        attribution = nib.load(
            str(root / "eval" / "attribution" / f"{entry['case_id']}_attr_integrated_gradients.nii.gz")
        )
        for volume in (cam, attribution):
            assert volume.shape == image.shape
            np.testing.assert_allclose(volume.affine, image.affine, atol=1e-4)


class _EchoEvaluator(CamEvaluator):
    """Returns the classifier's input as the 'CAM', so the inverse mapping can be checked against the CT."""

    def slice_cams(self, image):
        return image.as_tensor().numpy()[[0] * len(self.structures)], np.zeros((image.shape[-1], 3))

    def volume_cams(self, image):
        return image.as_tensor().numpy()[[0] * len(self.structures)], np.zeros((1, 2))


def test_cam_inside_liver_keeps_the_maps_on_the_liver_the_classifier_is_shown(phantom_dir, tmp_path):
    """`cam_inside_liver` (evaluate_cam.json): the 'CAM' made of the preprocessed CT comes back on the input
    grid as that CT inside the liver and 0 away from it; without the option the same map is there too."""
    dataset = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"]
    entry = {k: str(phantom_dir / dataset[0][k]) for k in ("image", "label")}
    liver = np.asarray(nib.load(entry["label"]).dataobj) > 0
    far = ndimage.distance_transform_edt(~liver) > 2  # input voxels; the resize back blurs the edge
    deep = ndimage.binary_erosion(liver, iterations=3)
    maps = {}
    for inside in (False, True):
        parser = _parser(SLICE, ("train.json", "evaluate_cam.json"), image_size=48, liver_roi=True,
                         liver_mask_margin_mm=0, cam_inside_liver=inside)  # fmt: skip
        region = parser.get_parsed_content("cam_region")
        assert (region is None) != inside
        evaluator = _EchoEvaluator(
            torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)),
            [entry],
            parser.get_parsed_content("volume_transforms"),
            tmp_path,
            [{"name": "tumor", "class_index": 1, "reference": [2]}],
            target_layer="0",
            region=region,
        )
        maps[inside] = evaluator.case_cam(entry)[0][0]
    assert maps[False][far].sum() > 100 * max(maps[True][far].sum(), 1e-3)  # anatomy beside the liver is gone
    np.testing.assert_allclose(maps[True][deep], maps[False][deep], atol=1e-5)  # the liver's map is untouched


@pytest.mark.parametrize(
    "bundle, mode, liver_roi", [(SLICE, "slices", False), (SLICE, "slices", True), (VOLUME, "volume", False)]
)
def test_cam_volumes_come_back_on_the_input_grid(phantom_dir, tmp_path, bundle, mode, liver_roi):
    """Restacking + inversion (orientation, resize, crop) puts every voxel back where it came from: the
    'CAM' made of the preprocessed CT matches the windowed CT read from disk, in LPS and LAS files alike."""
    overrides = (
        {"image_size": 48, "liver_roi": liver_roi}
        if mode == "slices"
        else {"input_size": [48, 48, 24], "pixdim": [3.0, 3.0, 3.0]}
    )
    parser = _parser(bundle, ("train.json",), **overrides)
    dataset = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"]
    entries = [{k: str(phantom_dir / e[k]) for k in ("image", "label")} for e in dataset]
    evaluator = _EchoEvaluator(
        torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)) if mode == "slices" else torch.nn.Conv3d(1, 1, 1),
        entries,
        parser.get_parsed_content("volume_transforms"),
        tmp_path,
        [{"name": "tumor", "class_index": 1, "reference": [2]}],
        target_layer="0" if mode == "slices" else "",
        mode=mode,
    )
    low, high = -100.0, 200.0  # the liver window of the configs
    for entry, case in zip(entries, dataset):
        cam, affine, _ = evaluator.case_cam(entry)
        image = nib.load(entry["image"])
        np.testing.assert_allclose(affine, image.affine, atol=1e-4)
        expected = np.clip((np.asarray(image.dataobj, dtype=np.float32) - low) / (high - low), 0, 1)
        cropped = mode == "volume" or liver_roi
        inside = cam[0] > 0 if cropped else np.ones_like(expected, bool)  # the crop is zero outside
        if liver_roi:  # in-plane: the liver's box and its 20 mm margin; along z: every slice
            label = np.asarray(nib.load(entry["label"]).dataobj)
            spacing = nib.affines.voxel_sizes(image.affine)
            kept = np.argwhere(cam[0] > 0)
            liver = np.argwhere(label > 0)
            for axis in range(3):
                if abs(image.affine[2, axis]) > abs(image.affine[:2, axis]).max():  # the axial axis
                    assert kept[:, axis].min() == 0 and kept[:, axis].max() == label.shape[axis] - 1
                else:
                    assert liver[:, axis].min() - kept[:, axis].min() <= 20 / spacing[axis] + 1
                    assert kept[:, axis].max() - liver[:, axis].max() <= 20 / spacing[axis] + 1
                    assert kept[:, axis].min() > 0 or liver[:, axis].min() * spacing[axis] < 20

        aligned = _correlation(cam[0], expected, inside)
        assert aligned > 0.8, (case["orientation"], aligned)  # resampling blurs, geometry must not move
        for axis in range(3):  # a one-voxel shift or a flipped axis along any axis matches worse
            shifted = [_correlation(np.roll(cam[0], s, axis=axis), expected, inside) for s in (-1, 1)]
            assert aligned > max(shifted) + 0.03, (case["orientation"], axis)


def _correlation(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.corrcoef(a[where], b[where])[0, 1])


def test_slice_bundle_mask_outside_liver_leaves_only_the_liver_and_its_rim(phantom_dir):
    """`mask_outside_liver` in the config: the slices the classifier sees are blank (the window's floor)
    away from the liver; without it the same box shows the surrounding anatomy."""
    dataset = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))["training"]
    entry = {k: str(phantom_dir / dataset[0][k]) for k in ("image", "label")}
    seen = {}
    for masked in (False, True):
        parser = _parser(SLICE, ("train.json",), image_size=48, liver_roi=True, mask_outside_liver=masked)
        d = parser.get_parsed_content("volume_transforms")(dict(entry))
        liver = d["label"][0].numpy() > 0
        far = ndimage.distance_transform_edt(~liver) > 4  # voxels of the classifier's grid (the rim is 5 mm)
        inner = ndimage.binary_erosion(liver, iterations=2)  # the resize blurs the masked edge a little
        seen[masked] = (float(d["image"][0].numpy()[far].max()), float(d["image"][0].numpy()[inner].mean()))
    assert seen[False][0] > 0.5  # unmasked: bright anatomy away from the liver
    assert seen[True][0] == 0.0
    assert seen[True][1] == pytest.approx(seen[False][1], rel=1e-6)  # the liver itself untouched
