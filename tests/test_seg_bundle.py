"""The liver_tumor_seg bundle through MONAI's own bundle API, on tiny phantoms."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.bundle import ConfigParser
from monai.bundle import run as bundle_run

from liver3d.export import read_slicer_segments
from liver3d.labels import load_label_table
from liver3d.phantoms import write_phantom_dataset

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "bundles" / "liver_tumor_seg" / "configs"
TINY = {"roi_size": [32, 32, 16], "fine_pixdim": [5.0, 5.0, 6.0], "coarse_factor": 2}


def _files(*names: str) -> list[str]:
    return [str(CONFIGS / n) for n in names]


def _run(configs: tuple[str, ...], **overrides) -> None:
    """``monai.bundle run`` in this process, on the tiny grid unless overridden."""
    bundle_run(
        config_file=_files(*configs), meta_file=str(CONFIGS / "metadata.json"), **{**TINY, **overrides}
    )


@pytest.mark.parametrize(
    "combo",
    [
        ("train.json",),
        ("train.json", "train_stage2.json"),
        ("train.json", "multi_gpu_train.json"),
        ("inference.json",),
        ("inference.json", "evaluate.json"),
        ("inference.json", "report.json"),
    ],
)
def test_bundle_configs_parse(combo):
    parser = ConfigParser()
    parser.read_config(_files(*combo))
    parser.read_meta(str(CONFIGS / "metadata.json"))
    net = parser.get_parsed_content("network_def")
    net.eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 1, 64, 64, 32))
    assert out.shape == (1, 3, 64, 64, 32)
    for key in ("bundle_root", "roi_size", "fine_pixdim", "window"):
        assert parser.get(key) is not None


def test_metadata_names_every_label_and_versions():
    meta = json.loads((CONFIGS / "metadata.json").read_text(encoding="utf-8"))
    assert meta["version"] in meta["changelog"]
    channel_def = meta["network_data_format"]["outputs"]["pred"]["channel_def"]
    assert channel_def == load_label_table().channel_def()
    assert meta["network_data_format"]["inputs"]["image"]["format"] == "hounsfield"


def test_every_checkpoint_loader_sets_map_location():
    for path in CONFIGS.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        for chunk in text.split('"CheckpointLoader"')[1:]:
            assert '"map_location"' in chunk.split("}")[0] + chunk.split("}")[1], (
                f"{path.name}: CheckpointLoader without map_location"
            )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two stages trained for two epochs each on four 64x64x32 phantoms."""
    root = tmp_path_factory.mktemp("seg")
    write_phantom_dataset(root / "train", cases=4, seed=21, shape=(64, 64, 32))
    write_phantom_dataset(root / "test", cases=2, seed=1021, shape=(64, 64, 32))
    common = {
        "bundle_root": str(root / "bundle"),
        "dataset_dir": str(root / "train"),
        "max_epochs": 2,
        "val_interval": 1,
        "val_fraction": 0.25,
        "num_workers": 0,
        "resume": False,
    }
    _run(("train.json",), **common)
    _run(("train.json", "train_stage2.json"), **common)
    return root


@pytest.mark.slow
def test_same_seed_same_weights_with_a_threaded_cache_fill(trained, tmp_path):
    """Issue 14: a training config gives the same answer twice given its seed on CPU, here stage 2 (liver-ROI
    crops) with the CacheDataset filled by 2 threads, the set-up that once made two demos differ."""
    weights = []
    for run in ("a", "b"):
        _run(
            ("train.json", "train_stage2.json"),
            bundle_root=str(tmp_path / run),
            dataset_dir=str(trained / "train"),
            max_epochs=1,
            val_interval=1,
            val_fraction=0.25,
            num_workers=2,
            resume=False,
            progress_bar=False,
            seed=3,
        )
        weights.append(
            torch.load(tmp_path / run / "models" / "stage2" / "checkpoint_epoch=1.pt", map_location="cpu")
        )
    (a, b) = (w["model"] for w in weights)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_training_writes_checkpoints_curves_and_resumes(trained):
    for stage in ("stage1", "stage2"):
        models = trained / "bundle" / "models" / stage
        assert (models / "model.pt").is_file() and (models / "checkpoint_epoch=2.pt").is_file()
        curves = trained / "bundle" / "eval" / stage
        assert (curves / "training_curves.png").is_file()
        assert "val_mean_dice" in (curves / "training_curves.csv").read_text(encoding="utf-8")
    _run(
        ("train.json",),
        bundle_root=str(trained / "bundle"),
        dataset_dir=str(trained / "train"),
        max_epochs=3,
        val_interval=1,
        val_fraction=0.25,
        num_workers=0,
        resume=True,
    )
    state = torch.load(trained / "bundle" / "models" / "stage1" / "checkpoint_epoch=3.pt", map_location="cpu")
    assert state["trainer"]["iteration"] == 3 * state["trainer"]["epoch_length"]
    # The best-model record travels with the checkpoint, so a resumed run only replaces model.pt with a better one.
    assert state["best_model"]["_saved"] and state["best_model"]["_saved"][0][0] > 0


@pytest.mark.slow
def test_nnunet_style_overlays_train_both_stages_and_infer(trained, tmp_path):
    """Issue 14.3: DynUNet with deep supervision and the poly schedule, all in config, through to inference."""
    root = tmp_path / "bundle"
    common = {
        "bundle_root": str(root),
        "dataset_dir": str(trained / "train"),
        "max_epochs": 4,
        "val_interval": 1,
    }
    overlays = ("network_dynunet.json", "train_deep_supervision.json", "train_poly_lr.json")
    _run(
        ("train.json", *overlays),
        **common,
        val_fraction=0.25,
        num_workers=0,
        resume=False,
        progress_bar=False,
    )
    _run(("train.json", "train_stage2.json", *overlays), **common, val_fraction=0.25, num_workers=0,
         resume=False, progress_bar=False)  # fmt: skip
    for stage in ("stage1", "stage2"):
        state = torch.load(root / "models" / stage / "checkpoint_epoch=4.pt", map_location="cpu")
        assert any(k.startswith("deep_supervision_heads.") for k in state["model"])
        schedule = state["lr_scheduler"]  # the poly schedule's state, not the cosine's (T_max)
        assert schedule["power"] == 0.9 and schedule["total_iters"] == 4 and "T_max" not in schedule
        assert (root / "models" / stage / "model.pt").is_file()
    out = tmp_path / "pred"
    _run(("inference.json", "network_dynunet.json"), bundle_root=str(root), input=str(trained / "test"),
         output_dir=str(out), save_slicer=False)  # fmt: skip
    segs = sorted(out.glob("*_seg.nii.gz"))
    assert len(segs) == 2 and all(set(np.unique(nib.load(p).dataobj)) <= {0, 1, 2} for p in segs)


@pytest.mark.slow
def test_inference_keeps_the_input_geometry_and_writes_slicer_segments(trained):
    out = trained / "infer_out"
    _run(
        ("inference.json",),
        bundle_root=str(trained / "bundle"),
        input=str(trained / "test"),
        output_dir=str(out),
        save_probabilities=True,
    )
    for image in sorted((trained / "test" / "imagesTr").glob("*.nii.gz")):
        case = image.name[: -len(".nii.gz")]
        seg = out / f"{case}_seg.nii.gz"
        a, b = sitk.ReadImage(str(image)), sitk.ReadImage(str(seg))
        assert a.GetSize() == b.GetSize()
        assert np.allclose(a.GetSpacing(), b.GetSpacing()) and np.allclose(a.GetOrigin(), b.GetOrigin())
        assert np.allclose(a.GetDirection(), b.GetDirection())
        assert set(np.unique(sitk.GetArrayFromImage(b))) <= {0, 1, 2}
        _, segments = read_slicer_segments(out / f"{case}.seg.nrrd")
        assert set(segments) == {"liver", "tumor"}
        prob = nib.load(out / f"{case}_prob.nii.gz")
        assert prob.shape == (*a.GetSize(), 3)
        assert np.allclose(np.asarray(prob.dataobj).sum(-1), 1.0, atol=1e-3)
    assert not list(out.glob(".*"))  # no temporary files left
    # write_probabilities alone (evaluate.json's name for writing them) is enough to get the files.
    written = trained / "infer_write"
    _run(("inference.json",), bundle_root=str(trained / "bundle"), input=str(trained / "test"),
         output_dir=str(written), save_slicer=False, write_probabilities=True)  # fmt: skip
    assert sorted(p.name for p in written.glob("*_prob.nii.gz")) == sorted(
        p.name for p in out.glob("*_prob.nii.gz")
    )
    # Asking for the probabilities does not change the label map.
    plain = trained / "infer_plain"
    _run(("inference.json",), bundle_root=str(trained / "bundle"), input=str(trained / "test"),
         output_dir=str(plain), save_slicer=False)  # fmt: skip
    segs = sorted(out.glob("*_seg.nii.gz"))
    assert any(np.asarray(nib.load(seg).dataobj).any() for seg in segs)  # something to compare
    for seg in segs:
        assert np.array_equal(
            np.asarray(nib.load(seg).dataobj), np.asarray(nib.load(plain / seg.name).dataobj)
        )


@pytest.mark.slow
def test_evaluate_writes_per_case_metrics(trained):
    out = trained / "eval_out"
    _run(
        ("inference.json", "evaluate.json"),
        bundle_root=str(trained / "bundle"),
        input=str(trained / "test"),
        output_dir=str(out),
    )
    rows = (out / "metrics_per_case.csv").read_text(encoding="utf-8").strip().splitlines()
    assert len(rows) == 1 + 2 * 2 and rows[0].startswith("case_id,structure,dice")
    summary = json.loads((out / "metrics_summary.json").read_text(encoding="utf-8"))
    assert {r["structure"] for r in summary} == {"liver", "tumor"}
    # Lesion-wise tables and the FROC beside the voxel metrics; no probability maps written.
    lesions = json.loads((out / "lesions_summary.json").read_text(encoding="utf-8"))
    assert lesions["n_cases"] == 2 and lesions["reference_lesions"] >= 1
    assert set(lesions["criteria"]) == {"overlap", "iou50"} and len(lesions["froc"]) == 11
    per_lesion = (out / "lesions_per_lesion.csv").read_text(encoding="utf-8").strip().splitlines()
    assert len(per_lesion) == 1 + lesions["reference_lesions"]
    assert (out / "froc.png").stat().st_size > 0 and "FROC threshold" in (
        out / "lesions_summary.md"
    ).read_text()
    assert not list(out.glob("*_prob.nii.gz"))


@pytest.mark.slow
def test_report_step_writes_a_report_per_case(trained):
    out = trained / "report_out"
    _run(
        ("inference.json", "report.json"),
        bundle_root=str(trained / "bundle"),
        input=str(trained / "test"),
        output_dir=str(out),
    )
    reports = sorted(out.glob("*_report/report.json"))
    assert len(reports) == 2
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    assert report["liver_volume_ml"] >= 0 and report["shape"] == list(nib.load(report["source"]).shape)


@pytest.mark.slow
def test_attribution_step_writes_maps_on_the_input_grid(trained):
    out = trained / "attribution_out"
    _run(
        ("inference.json", "attribution.json"),
        bundle_root=str(trained / "bundle"),
        input=str(trained / "test"),
        output_dir=str(out),
        attribution_steps=4,
    )
    maps = sorted((out / "attribution").glob("*_attr_integrated_gradients.nii.gz"))
    assert len(maps) == 2
    for path in maps:
        case = path.name.replace("_attr_integrated_gradients.nii.gz", "")
        image = nib.load(str(next((trained / "test").rglob(f"{case}.nii.gz"))))
        amap = nib.load(str(path))
        assert amap.shape == image.shape
        np.testing.assert_allclose(amap.affine, image.affine, atol=1e-4)
        assert path.with_suffix("").with_suffix(".png").is_file()


@pytest.mark.slow
def test_bad_input_stops_with_the_file_named_and_writes_nothing(trained, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit):
        _run(
            ("inference.json",),
            bundle_root=str(trained / "bundle"),
            input=str(tmp_path / "missing.nii.gz"),
            output_dir=str(out),
        )
    assert "ERROR " + str(tmp_path / "missing.nii.gz") + ": file not found" in capsys.readouterr().err
    # A label whose geometry differs from its image.
    bad = tmp_path / "bad"
    (bad / "imagesTr").mkdir(parents=True)
    (bad / "labelsTr").mkdir()
    image = next((trained / "test" / "imagesTr").glob("*.nii.gz"))
    img = nib.load(image)
    nib.save(img, bad / "imagesTr" / "x.nii.gz")
    shifted = img.affine.copy()
    shifted[2, 3] += 20
    lab = nib.load(trained / "test" / "labelsTr" / image.name)
    nib.save(nib.Nifti1Image(np.asarray(lab.dataobj), shifted), bad / "labelsTr" / "x.nii.gz")
    with pytest.raises(SystemExit):
        _run(
            ("inference.json", "evaluate.json"),
            bundle_root=str(trained / "bundle"),
            input=str(bad),
            output_dir=str(out),
        )
    err = capsys.readouterr().err
    assert "labelsTr/x.nii.gz: label geometry differs" in err and "stopped before writing anything" in err
    # A truncated file whose header still reads: caught when its voxels are loaded, still named.
    cut = tmp_path / "cut.nii.gz"
    data = image.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception) as info:
        _run(("inference.json",), bundle_root=str(trained / "bundle"), input=str(cut), output_dir=str(out))
    assert "cut.nii.gz: truncated or corrupt gzip" in _chain(info.value)
    assert not out.exists() or not any(out.iterdir())


def _chain(err: BaseException) -> str:
    parts = []
    while err is not None:
        parts.append(str(err))
        err = err.__cause__ or err.__context__
    return "\n".join(parts)


def _bundle_cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m monai.bundle <args> --meta_file ... --config_file inference.json`` from the repository root."""
    command = [
        sys.executable,
        "-m",
        "monai.bundle",
        *args,
        "--meta_file",
        str(CONFIGS / "metadata.json"),
        "--config_file",
        str(CONFIGS / "inference.json"),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        command, capture_output=True, text=True, encoding="utf-8", cwd=ROOT, env=env, timeout=300
    )


@pytest.mark.slow
def test_verify_net_in_out_and_torchscript_export(trained, tmp_path):
    verify = _bundle_cli("verify_net_in_out", "network_def", "--device", "cpu")
    assert verify.returncode == 0, verify.stdout[-2000:] + verify.stderr[-2000:]
    ts = tmp_path / "model.ts"
    export = _bundle_cli(
        "ckpt_export",
        "network_def",
        "--filepath",
        str(ts),
        "--ckpt_file",
        str(trained / "bundle" / "models" / "stage2" / "model.pt"),
    )
    assert export.returncode == 0, export.stdout[-2000:] + export.stderr[-2000:]
    model = torch.jit.load(str(ts), map_location="cpu")
    assert model(torch.zeros(1, 1, 32, 32, 16)).shape == (1, 3, 32, 32, 16)


@pytest.mark.slow
def test_two_process_ddp_training_on_cpu(trained, tmp_path):
    root = tmp_path / "ddp"
    overrides = []
    for key, value in {
        **TINY,
        "bundle_root": str(root),
        "dataset_dir": str(trained / "train"),
        "max_epochs": 1,
        "val_interval": 1,
        "val_fraction": 0.5,
        "num_workers": 0,
        "resume": False,
    }.items():
        overrides += [f"--{key}", json.dumps(value) if isinstance(value, list) else str(value)]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        "--nproc_per_node=2",
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        "[" + ",".join(f"'{f}'" for f in _files("train.json", "multi_gpu_train.json")) + "]",
        "--meta_file",
        str(CONFIGS / "metadata.json"),
        *overrides,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (root / "models" / "stage1" / "model.pt").is_file()
    assert "Epoch[1] Metrics" in result.stdout + result.stderr


@pytest.mark.slow
def test_inference_reads_a_real_dicom_series(trained, real_ct, tmp_path):
    from liver3d.io.readers import read_header

    _run(
        ("inference.json",),
        bundle_root=str(trained / "bundle"),
        input=str(real_ct / "dicom_ct"),
        output_dir=str(tmp_path),
    )
    seg = nib.load(tmp_path / "dicom_ct_seg.nii.gz")
    header = read_header(real_ct / "dicom_ct")
    assert seg.shape == header.shape == (512, 512, 20)
    assert np.allclose(seg.affine, header.affine, atol=1e-3)
