"""The image_cls_2d bundle through MONAI's bundle API on generated 2D phantoms: each study config trains,
evaluates (validation-chosen threshold for the binary study, confusion reports for all) and writes CAM
boxes; and a two-trial Hyperband search."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bundle_utils import parse_bundle, read_rows, run_bundle
from sklearn import metrics as skm

from liver3d.networks import SmallCNN
from liver3d.phantoms.images2d import STUDIES, write_study_images
from liver3d.search.__main__ import main as search_main

CONFIGS = Path(__file__).resolve().parents[1] / "bundles" / "image_cls_2d" / "configs"
TINY = {"image_size": 48, "resnet_depth": 18, "batch_size": 8, "learning_rate": 0.001, "progress_bar": False}


@pytest.fixture(scope="module")
def study_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("images2d")
    for study in STUDIES:
        write_study_images(study, root / study, patients_per_class=3, images_per_patient=2, size=64, seed=1)
    return root


@pytest.mark.parametrize("study", ["xray_pneumonia", "liver_disease_4class", "multiorgan_8class"])
def test_study_configs_parse_to_the_seed_networks(study):
    parser = parse_bundle(CONFIGS, ("train.json", f"{study}.json"))
    net = parser.get_parsed_content("network_def").eval()
    size = parser.get_parsed_content("image_size")
    channels = parser.get_parsed_content("channels")
    names = parser.get_parsed_content("class_names")
    assert names == list(STUDIES[study].classes)
    with torch.no_grad():
        assert net(torch.zeros(2, channels, size, size)).shape == (2, len(names))
    modules = dict(net.named_modules())
    assert all(layer in modules for layer in parser.get_parsed_content("cam_layers"))
    if (
        study == "liver_disease_4class"
    ):  # seed 003: 224 px RGB, BN-dropout-256-dropout head, LR x0.1 / 20 epochs
        assert (size, channels) == (224, 3) and net.fc[2].out_features == 256
        scheduler = parser.get_parsed_content("lr_scheduler")
        assert (scheduler.step_size, scheduler.gamma) == (20, 0.1)
        assert parser.get_parsed_content("early_stop_patience") == 10
    if study == "multiorgan_8class":  # seed 004: 128 px grey, three conv blocks, dense 128
        assert isinstance(net, SmallCNN) and (size, channels) == (128, 1)
        assert net.head[1].out_features == 128


@pytest.mark.slow
@pytest.mark.parametrize("study", ["xray_pneumonia", "liver_disease_4class", "multiorgan_8class"])
def test_study_trains_evaluates_and_localizes(tmp_path, study_data, study):
    names = ("train.json", f"{study}.json")
    common = dict(TINY, dataset_dir=str(study_data / study), bundle_root=str(tmp_path))
    run_bundle(CONFIGS, names, max_epochs=2, **common)
    assert (tmp_path / "models" / study / "model.pt").is_file()
    run_bundle(CONFIGS, names + ("evaluate.json",), **common)
    out = tmp_path / "eval" / study
    classes = list(STUDIES[study].classes)
    test_report = json.loads((out / "test" / "classification_report.json").read_text(encoding="utf-8"))
    rows = read_rows(out / "test" / "predictions.csv")
    assert len(rows) == test_report["n"] == len(classes) * 2  # one test patient per class, two images each
    assert len({r["patient_id"] for r in rows}) == len(classes)
    assert test_report["ci95_resampled"] == {"unit": "patients", "n": len(classes)}
    y = [classes.index(r["label"]) for r in rows]
    pred = [classes.index(r["pred"]) for r in rows]
    assert test_report["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert (
        test_report["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=range(len(classes))).tolist()
    )
    for c, name in enumerate(classes):
        assert test_report["per_class"][name]["f1"] == pytest.approx(
            skm.f1_score(y, pred, labels=[c], average="macro", zero_division=0)
        )
    for part in ("val", "test"):
        for figure in ("confusion_matrix.png", "roc.png", "classification_report.md"):
            assert (out / part / figure).stat().st_size > 0
    if study == "xray_pneumonia":
        val_report = json.loads((out / "val" / "classification_report.json").read_text(encoding="utf-8"))
        binary = test_report["binary"]
        assert binary["threshold_source"] == "validation"
        assert binary["optimal"]["threshold"] == val_report["binary"]["optimum_this_set"]["threshold"]
        score = np.array([float(r["p_pneumonia"]) for r in rows])
        positive = np.array(y) == 1
        assert binary["auc"] == pytest.approx(skm.roc_auc_score(positive, score), abs=1e-4)
        assert "| sensitivity |" in (out / "test" / "threshold_table.md").read_text(encoding="utf-8")
    else:
        assert "binary" not in test_report

    run_bundle(CONFIGS, names + ("cam.json",), cam_max_figures=1, **common)
    records = json.loads((out / "cam" / "cam_regions.json").read_text(encoding="utf-8"))
    assert len(records) == len(rows)
    lesion_records = [r for r in records if "lesion_box_xyxy" in r]
    assert lesion_records, "the generated lesion masks reach the localizer"
    for record in records:
        for region in record["regions"]:
            x0, y0, x1, y1 = region["bbox_xyxy"]
            assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64  # original 64 px image coordinates
    assert list((out / "cam" / "figures").glob("*_layers.png"))


@pytest.mark.slow
def test_two_trial_hyperband_search(tmp_path, study_data):
    files = [str(CONFIGS / n) for n in ("train.json", "multiorgan_8class.json", "search.json")]
    args = ["--config_file", json.dumps(files), "--n_trials", "2", "--trial_epochs", "2"]
    args += ["--dataset_dir", str(study_data / "multiorgan_8class"), "--bundle_root", str(tmp_path)]
    args += ["--image_size", "48", "--batch_size", "8"]
    assert search_main(args) == 0
    out = tmp_path / "search" / "multiorgan_8class"
    trials = read_rows(out / "trials.csv")
    assert [t["trial"] for t in trials] == ["0", "1"]
    summary = json.loads((out / "search_summary.json").read_text(encoding="utf-8"))
    assert summary["pruner"] == "hyperband" and summary["trials"] == 2
    best = json.loads((out / "best_config.json").read_text(encoding="utf-8"))
    assert set(best) == {"head_hidden", "head_dropout", "lr_gamma"}
    assert best["head_hidden"] in (128, 256, 512)
    assert 0.3 <= best["head_dropout"] <= 0.7 and 0.1 <= best["lr_gamma"] <= 0.5
    complete = [t for t in trials if t["state"] == "COMPLETE"]
    assert max(float(t["value"]) for t in complete) == pytest.approx(summary["best_value"])
    for t in trials:  # each trial trained into its own folder, with its own sampled head
        assert (out / f"trial_{int(t['trial']):03d}" / "models" / "model.pt").is_file()
    assert (out / "search_history.png").stat().st_size > 0
    # the best values are a config file: they override the study's when put after it
    parser = parse_bundle(CONFIGS, ("train.json", "multiorgan_8class.json"))
    parser.read_config(
        [str(CONFIGS / "train.json"), str(CONFIGS / "multiorgan_8class.json"), str(out / "best_config.json")]
    )
    assert parser.get_parsed_content("network_def").head[1].out_features == best["head_hidden"]


def test_search_refuses_a_bad_space(tmp_path):
    bad = tmp_path / "bad_search.json"
    bad.write_text(
        json.dumps({"search_space": {"head_dropout": {"type": "float", "low": 0.7, "high": 0.3}}}),
        encoding="utf-8",
    )
    files = [str(CONFIGS / "train.json"), str(bad)]
    with pytest.raises(ValueError, match=r"search_space\['head_dropout'\]: float needs 'low' < 'high'"):
        search_main(["--config_file", json.dumps(files)])


def test_missing_dataset_stops_with_one_line(tmp_path, capsys):
    names = ("train.json", "xray_pneumonia.json")
    with pytest.raises(SystemExit) as stop:
        run_bundle(CONFIGS, names, dataset_dir=str(tmp_path / "nowhere"), bundle_root=str(tmp_path))
    assert stop.value.code == 1
    assert f"ERROR {tmp_path / 'nowhere'}: image datalist not found" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()  # nothing written
