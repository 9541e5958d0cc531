"""The viewer's runners: each registered bundle on a staged upload, outputs on the input's grid."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from app_utils import write_untrained_models
from PIL import Image

from liver3d.app import RunError, load_registry, register_model, run_model, stage_upload
from liver3d.app.runners import download_name
from liver3d.export import read_slicer_segments
from liver3d.geometry import same_world_grid, to_ras

MB = 2**20


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return write_untrained_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def entries(registry):
    return {e.name: e for e in load_registry(registry)}


@pytest.fixture
def ct_upload(phantom_dir, tmp_path):
    source = sorted((phantom_dir / "imagesTr").glob("*.nii.gz"))[0]
    return source, stage_upload("patient 1.nii.gz", source.read_bytes(), tmp_path / "in", 50 * MB)


@pytest.mark.slow
def test_segmentation_writes_label_slicer_and_report_on_the_input_grid(entries, ct_upload, tmp_path):
    source, staged = ct_upload
    steps = []
    result = run_model(entries["cascade"], staged, tmp_path / "run", lambda f, m: steps.append(f))
    assert steps == sorted(steps) and steps[-1] == 1.0
    seg = nib.load(result.files["label map (NIfTI)"])
    image = nib.load(source)
    assert seg.shape == image.shape and np.allclose(seg.affine, image.affine, atol=1e-4)
    assert result.label.shape == to_ras(np.zeros(image.shape), image.affine)[0].shape
    assert set(np.unique(result.label)) <= {0, 1, 2}
    _, segments = read_slicer_segments(result.files["3D Slicer segmentation (.seg.nrrd)"])
    assert set(segments) == {"liver", "tumor"}
    report = json.loads(result.files["report (JSON)"].read_text(encoding="utf-8"))
    assert report["liver_volume_ml"] >= 0 and "patient 1" in result.report_markdown
    assert str(tmp_path) not in result.report_markdown  # no server paths shown
    assert download_name(result.files["label map (NIfTI)"], staged) == "patient 1_seg.nii.gz"


@pytest.mark.slow
def test_volume_classifier_on_the_liver_roi_needs_a_segmentation_first(entries, ct_upload, tmp_path):
    source, staged = ct_upload
    with pytest.raises(RunError, match="run a segmentation model on this upload first"):
        run_model(entries["presence"], staged, tmp_path / "run")
    segmentation = run_model(entries["cascade"], staged, tmp_path / "seg")
    if not (segmentation.label == 1).any():  # an untrained cascade may find no liver: give it one
        from liver3d.io.nifti import save_nifti

        truth = source.parent.parent / "labelsTr" / source.name
        label = nib.load(truth)
        save_nifti(np.asarray(label.dataobj), label.affine, segmentation.files["label map (NIfTI)"])
    result = run_model(entries["presence"], staged, tmp_path / "run", earlier={"segmentation": segmentation})
    assert set(result.probabilities) == {"no_tumor", "tumor"}
    cam = nib.load(result.files["Grad-CAM tumor (NIfTI)"])
    image = nib.load(source)
    assert cam.shape == image.shape and np.allclose(cam.affine, image.affine, atol=1e-4)
    assert result.report["region"] == "liver ROI from the segmentation"


@pytest.mark.slow
def test_slice_classifier_gives_slice_probabilities_and_cam_volumes(entries, ct_upload, tmp_path):
    source, staged = ct_upload
    result = run_model(entries["slices"], staged, tmp_path / "run")
    image = nib.load(source)
    depth = result.cams["tumor"].shape[2]
    assert result.slice_probabilities.shape == (depth, 3)
    assert np.allclose(result.slice_probabilities.sum(1), 1.0, atol=1e-4)
    for name in ("liver", "tumor"):
        cam = nib.load(result.files[f"Grad-CAM {name} (NIfTI)"])
        assert cam.shape == image.shape and np.allclose(cam.affine, image.affine, atol=1e-4)
        assert 0.0 <= float(np.min(cam.dataobj)) and float(np.max(cam.dataobj)) <= 1.0
    report = result.report["classes"]
    assert sum(row["slices_predicted"] for row in report.values()) == depth


@pytest.mark.slow
def test_image_classifier_gives_probabilities_cams_and_boxes(entries, tmp_path):
    array = np.zeros((80, 100), np.uint8)
    array[20:60, 30:70] = 200
    path = tmp_path / "x.png"
    Image.fromarray(array).save(path)
    staged = stage_upload("chest.png", path.read_bytes(), tmp_path / "in", MB)
    result = run_model(entries["xray"], staged, tmp_path / "run")
    assert set(result.probabilities) == {"normal", "pneumonia"}
    assert abs(sum(result.probabilities.values()) - 1.0) < 1e-3
    assert all(cam.shape == (80, 100) for cam in result.cams.values())
    assert nib.load(result.files["Grad-CAM (NIfTI)"]).shape == (100, 80, 1)
    for region in result.regions:
        x0, y0, x1, y1 = region["bbox_xyxy"]
        assert 0 <= x0 < x1 <= 100 and 0 <= y0 < y1 <= 80
    assert result.report["predicted"] in result.report_markdown


def test_a_model_refuses_the_wrong_kind_of_input(entries, tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    staged = stage_upload("a.png", (tmp_path / "a.png").read_bytes(), tmp_path / "in", MB)
    with pytest.raises(RunError, match="takes a CT volume"):
        run_model(entries["cascade"], staged, tmp_path / "run")


def test_missing_or_mismatched_checkpoints_are_named(registry, entries, ct_upload, tmp_path):
    _, staged = ct_upload
    register_model(
        tmp_path / "r.json", {"name": "gone", "task": "segmentation", "overrides": {"bundle_root": "nowhere"}}
    )
    (gone,) = load_registry(tmp_path / "r.json")
    with pytest.raises(RunError, match=r"checkpoint not found: .*nowhere/models/release/stage1.pt"):
        run_model(gone, staged, tmp_path / "run")
    spec = {
        "name": "deeper",
        "task": "slice_classifier",
        "overrides": {"bundle_root": str(registry.parent / "slices"), "network_def#depth": 34},
    }
    register_model(tmp_path / "r.json", spec)
    deeper = next(e for e in load_registry(tmp_path / "r.json") if e.name == "deeper")
    with pytest.raises(RunError, match="does not fit the network"):
        run_model(deeper, staged, tmp_path / "run2")


def test_registry_resolves_relative_paths_and_refuses_bad_entries(registry, tmp_path):
    entries = load_registry(registry)
    assert [e.name for e in entries] == ["cascade", "slices", "presence", "xray"]
    assert all(not e.missing for e in entries)
    assert entries[0].overrides["bundle_root"] == str(registry.parent / "seg")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": [{"name": "x", "task": "detector"}]}), encoding="utf-8")
    with pytest.raises(Exception, match="bad.json: entry 'x' needs a 'name' and a 'task'"):
        load_registry(bad)
    bad.write_text(json.dumps({"models": [{"name": "x", "task": "segmentation"}] * 2}), encoding="utf-8")
    with pytest.raises(Exception, match="unique"):
        load_registry(bad)


@pytest.mark.slow
def test_a_zipped_real_dicom_series_is_segmented_on_its_own_grid(entries, real_ct, tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted((real_ct / "dicom_ct").iterdir()):
            archive.write(path, f"study/series/{path.name}")
    staged = stage_upload("real_series.zip", buffer.getvalue(), tmp_path / "in", 200 * MB)
    assert staged.kind == "volume" and staged.shape == (512, 512, 20)
    result = run_model(entries["cascade"], staged, tmp_path / "run")
    seg = nib.load(result.files["label map (NIfTI)"])
    reference = nib.load(real_ct / "example_seg_dicom.nii.gz")  # TotalSegmentator's map on the series' grid
    # same voxels in world millimetres; ITK reads the series in LPS voxel order, the reference is stored LAS
    assert same_world_grid(seg.affine, seg.shape, reference.affine, reference.shape, 1e-2)
    assert download_name(result.files["label map (NIfTI)"], staged) == "real_series_seg.nii.gz"


@pytest.mark.slow
def test_a_bundle_the_viewer_never_ran_before_shows_through_its_manifest(ct_upload, tmp_path):
    """The patch autoencoder has no code in app/: its metadata's contract is all the viewer needs."""
    from app_utils import save_untrained

    register_model(
        tmp_path / "r.json", {"name": "ae", "task": "error_map", "overrides": {"bundle_root": "ae"}}
    )
    (entry,) = load_registry(tmp_path / "r.json")
    save_untrained(entry, entry.checkpoints)
    source, staged = ct_upload
    result = run_model(entry, staged, tmp_path / "run")
    image = nib.load(source)
    error = nib.load(result.files["reconstruction error (NIfTI)"])
    assert error.shape == image.shape and np.allclose(error.affine, image.affine, atol=1e-4)
    assert result.cams["reconstruction error"].shape == to_ras(np.zeros(image.shape), image.affine)[0].shape


def test_the_viewer_names_no_config_id_of_any_bundle():
    """Every string literal in liver3d/app/ is checked against the top-level keys of every bundle config."""
    import ast

    from liver3d.paths import bundle_dir, bundle_names

    config_ids = set()
    for name in bundle_names():
        for path in (bundle_dir(name) / "configs").glob("*.json"):
            data = json.loads(path.read_text(encoding="utf-8"))
            if path.name != "metadata.json":
                config_ids |= {key.split("#")[0] for key in data}
    # Words that are config ids in some bundle but mean something else here: widget keys of the page
    # ("input", "run", "window", "cam_layer"), report fields, and a kind of result file.
    other_meaning = {"input", "run", "window", "cam_layer", "cam_threshold", "error_map"}
    app = Path(__file__).resolve().parents[1] / "liver3d" / "app"
    named = {
        (node.value, path.name)
        for path in app.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in config_ids
    }
    assert {(value, file) for value, file in named if value not in other_meaning} == set()
