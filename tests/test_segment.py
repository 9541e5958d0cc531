"""``liver3d segment INPUT -o OUTDIR`` end to end, on tiny phantoms with randomly initialised weights.

The weights are the bundle's network (``network_def`` of ``inference.json``) with ``torch.manual_seed(0)``: these
tests exercise the command's mechanics (inputs, outputs, geometry, errors, atomicity), not its accuracy.
"""

import contextlib
import csv
import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from bundle_utils import pickled_names
from monai.networks.nets import UNet

import liver3d.cli
from liver3d.inference.sanity import Caution
from liver3d.io.dicom import write_dicom_series
from liver3d.io.nifti import save_nifti
from liver3d.io.readers import read_volume
from liver3d.phantoms import generate_phantom
from liver3d.segment import SegmentInputError, SegmentResult, main, segment

SHAPE = (48, 48, 24)
ROLES = {"label_map", "slicer_segmentation", "report_json", "report_markdown", "report_html", "result"}


def _unet(channels=(16, 32, 64, 128, 256)) -> UNet:
    """The bundle's ``network_def`` (channels aside)."""
    torch.manual_seed(0)
    return UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=3,
        channels=list(channels),
        strides=[2, 2, 2, 2],
        num_res_units=2,
        norm="batch",
    )


@pytest.fixture(autouse=True)
def _restore_process_state(monkeypatch):
    """``main`` installs a SIGTERM handler and ``liver3d.cli.main`` sets ``sys.argv``: undo both."""
    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    yield
    signal.signal(signal.SIGTERM, handler)


@pytest.fixture(scope="module")
def bundle_root(tmp_path_factory) -> Path:
    """``<root>/models/stage{1,2}/model.pt``: random (seed 0) state dicts of the bundle's UNet."""
    root = tmp_path_factory.mktemp("bundle")
    for stage in ("stage1", "stage2"):
        (root / "models" / stage).mkdir(parents=True)
        torch.save(_unet().state_dict(), root / "models" / stage / "model.pt")
    return root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture(scope="module")
def ct(inputs) -> Path:
    """A (48, 48, 24) phantom CT (int16 HU, RAS) with one tumor."""
    case = generate_phantom(np.random.default_rng(11), shape=SHAPE, n_tumors=1)
    return save_nifti(case.image.astype(np.int16), case.affine_ras, inputs / "case.nii.gz")


@pytest.fixture(scope="module")
def dicom_series(ct, inputs) -> Path:
    folder = inputs / "ct_dicom"
    write_dicom_series(ct, folder)
    return folder


def _zip_files(path: Path, files: dict[str, Path]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in files.items():
            archive.write(source, name)
    return path


def _run(args: list[str]) -> tuple[int, str, str]:
    """``liver3d.segment.main(args)`` with stdout and stderr captured (for module-scoped runs)."""
    out, err = io.StringIO(), io.StringIO()
    handler = signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(args)
    finally:
        signal.signal(signal.SIGTERM, handler)
    return rc, out.getvalue(), err.getvalue()


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _summary(text: str) -> list[str]:
    """The command's summary lines: everything but its WARNING lines (each a complete sentence)."""
    return [line for line in _lines(text) if not line.startswith("WARNING ")]


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for folders)."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))
    }


def _check_published(out: Path, case: str, shape, affine, slicer: bool = True) -> dict:
    """The outputs of one run named after ``case``, on the grid (shape, affine); returns result.json."""
    label_img = nib.load(out / f"{case}_seg.nii.gz")
    assert label_img.shape == tuple(shape)
    np.testing.assert_allclose(label_img.affine, affine, atol=1e-4)
    label = np.asarray(label_img.dataobj)
    assert label.dtype == np.uint8 and set(np.unique(label).tolist()) <= {0, 1, 2}
    assert (out / f"{case}.seg.nrrd").is_file() == slicer
    report = json.loads((out / f"{case}_report" / "report.json").read_text(encoding="utf-8"))
    assert isinstance(report["warnings"], list)
    assert all(set(w) == {"code", "message"} for w in report["warnings"])
    for name in ("report.md", "report.html"):
        assert (out / f"{case}_report" / name).is_file()
    assert list((out / f"{case}_report").glob("*.png"))  # the three-plane figure
    result = json.loads((out / f"{case}_result.json").read_text(encoding="utf-8"))
    assert result["command"] == "liver3d segment"
    expected_roles = ROLES if slicer else ROLES - {"slicer_segmentation"}
    assert set(result["outputs"]) >= expected_roles
    assert slicer or "slicer_segmentation" not in result["outputs"]
    for role, entry in result["outputs"].items():
        assert Path(entry["path"]).is_file(), role
        assert Path(entry["path"]).parent in (out, out / f"{case}_report")
        assert entry["meaning"]
    assert result["outputs"]["label_map"]["path"] == str(out / f"{case}_seg.nii.gz")
    assert set(result["weights"]) == {"stage1", "stage2"}
    for entry in result["weights"].values():
        assert entry["sha256"] == _sha256(entry["path"])
    assert result["warnings"] == report["warnings"]
    assert not list(out.glob(".liver3d-partial-*"))
    assert not [p for p in out.rglob("*") if ".liver3d-partial-" in str(p)]
    return result


# -- a NIfTI file in, everything out --------------------------------------------------------------------


@pytest.fixture(scope="module")
def nifti_run(ct, bundle_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("nifti_run") / "out"
    rc, stdout, stderr = _run([str(ct), "-o", str(out), "--bundle-root", str(bundle_root), "--quiet"])
    return rc, stdout, stderr, out


def test_nifti_input_writes_every_output_on_the_input_grid(nifti_run, ct, bundle_root):
    rc, stdout, stderr, out = nifti_run
    assert rc == 0, stderr
    image = nib.load(ct)
    result = _check_published(out, "case", image.shape, image.affine)
    assert result["input"] == str(ct)
    models = bundle_root.resolve() / "models"
    assert result["weights"]["stage1"]["path"] == str(models / "stage1" / "model.pt")
    assert result["weights"]["stage2"]["path"] == str(models / "stage2" / "model.pt")
    assert result["weights"]["stage1"]["sha256"] == _sha256(bundle_root / "models" / "stage1" / "model.pt")
    assert set(result["seconds"]) == {"read_and_check", "segment", "report", "write"}
    assert sorted(os.listdir(out)) == [
        "case.seg.nrrd",
        "case_report",
        "case_result.json",
        "case_seg.nii.gz",
    ]


def test_nifti_run_prints_a_summary_and_every_output(nifti_run):
    rc, stdout, stderr, out = nifti_run
    assert rc == 0
    lines = _summary(stdout)  # WARNING lines (the random weights find odd livers) come first
    assert lines[0].startswith("case: liver ") and "lesion(s)" in lines[0]
    for role in ROLES:
        assert any(line.strip().startswith(f"{role}: {out}") for line in lines[1:]), role
    assert not [line for line in _lines(stderr) if line.startswith(("ERROR", "Traceback"))]


def test_report_names_the_published_label_map(nifti_run):
    _, _, _, out = nifti_run
    report_dir = out / "case_report"
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert report["source"] == str(out / "case_seg.nii.gz")
    for name in ("report.json", "report.md", "report.html"):
        assert ".liver3d-partial-" not in (report_dir / name).read_text(encoding="utf-8"), name


def test_result_json_lists_the_report_figure(nifti_run):
    _, _, _, out = nifti_run
    result = json.loads((out / "case_result.json").read_text(encoding="utf-8"))
    figures = [e["path"] for e in result["outputs"].values() if e["path"].endswith(".png")]
    assert figures and all(Path(p).is_file() for p in figures)


@pytest.fixture(scope="module")
def process_run(ct, bundle_root, tmp_path_factory):
    """``python -m liver3d.cli segment ...`` as its own process (the installed ``liver3d`` entry point)."""
    out = tmp_path_factory.mktemp("process_run") / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "liver3d.cli", "segment", str(ct), "-o", str(out)]
    command += ["--bundle-root", str(bundle_root), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    return done, out


def test_command_runs_as_its_own_process(process_run, ct):
    done, out = process_run
    assert done.returncode == 0, done.stderr
    image = nib.load(ct)
    _check_published(out, "case", image.shape, image.affine)
    assert any(line.startswith("case: liver ") for line in _lines(done.stdout))


def test_command_prints_only_its_own_summary(process_run):
    done, out = process_run
    assert done.returncode == 0
    lines = _summary(done.stdout)
    assert lines[0].startswith("case: liver "), lines[:3]
    assert not any(".liver3d-partial-" in line for line in _lines(done.stdout))
    assert not [line for line in lines + _lines(done.stderr) if ".liver3d-partial-" in line]


def test_cli_segment_replaces_an_earlier_run_and_keeps_other_files(ct, bundle_root, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "case_report").mkdir(parents=True)
    (out / "case_report" / "stale.txt").write_text("from an earlier run")
    (out / "case_seg.nii.gz").write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    rc = liver3d.cli.main(["segment", str(ct), "-o", str(out), "--bundle-root", str(bundle_root)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    image = nib.load(ct)
    _check_published(out, "case", image.shape, image.affine)
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert not (out / "case_report" / "stale.txt").exists()  # the report folder is replaced whole
    assert _summary(captured.out)[0].startswith("case: liver ")


# -- DICOM series and zips ------------------------------------------------------------------------------


def test_dicom_series_folder_gives_a_label_map_on_the_dicom_grid(dicom_series, bundle_root, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main([str(dicom_series), "-o", str(out), "--bundle-root", str(bundle_root), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    series = read_volume(dicom_series)
    assert series.shape == SHAPE
    result = _check_published(out, "ct_dicom", series.shape, series.affine)
    assert result["input"] == str(dicom_series)


def test_a_folder_with_a_scout_is_segmented_on_its_largest_series(
    dicom_series, bundle_root, tmp_path, capsys
):
    folder = tmp_path / "export"
    shutil.copytree(dicom_series, folder)
    scout = save_nifti(np.full((48, 48, 2), 500, np.int16), np.eye(4), tmp_path / "scout.nii.gz")
    for f in write_dicom_series(scout, tmp_path / "scout", series_description="scout"):
        f.rename(folder / f"scout_{f.name}")
    out = tmp_path / "out"
    rc = main(
        [str(folder), "-o", str(out), "--bundle-root", str(bundle_root), "--quiet", "--fast", "--no-slicer"]
    )
    assert rc == 0, capsys.readouterr().err
    result = json.loads((out / "export_result.json").read_text())
    (warning,) = [w for w in result["warnings"] if w["code"] == "several_dicom_series"]
    assert "holds 2 image series" in warning["message"] and f"({SHAPE[2]} images)" in warning["message"]
    assert nib.load(out / "export_seg.nii.gz").shape == SHAPE


def test_a_cohort_folder_is_segmented_case_by_case_in_its_own_process(
    ct, dicom_series, bundle_root, tmp_path
):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    shutil.copy(ct, cohort / "p1.nii.gz")
    shutil.copytree(dicom_series, cohort / "p2")
    (cohort / "p3.nii.gz").write_bytes(ct.read_bytes()[:3000])  # truncated
    (cohort / "notes.txt").write_text("not a CT")
    shutil.copytree(
        dicom_series, cohort / "p4" / "study" / "ct"
    )  # a patient's export: <patient>/<study>/<series>
    other_study = pydicom.uid.generate_uid()
    for f in (cohort / "p4" / "study" / "ct").iterdir():  # another patient's study than p2's
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID = other_study
        ds.save_as(f)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "liver3d.cli", "segment", str(cohort), "-o", str(out)]
    command += ["--bundle-root", str(bundle_root), "--quiet", "--fast", "--no-slicer"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1  # one case failed; the others were segmented
    # The failed case is the only line on stderr (no reader noise, e.g. MONAI's nvImageCodec notes, either).
    (error,) = _lines(done.stderr)
    assert error.startswith(f"ERROR {cohort / 'p3.nii.gz'}: ")
    assert _lines(done.stdout)[-1] == f"cohort: 3 of 4 CTs segmented; table: {out / 'cohort.csv'}"
    with open(out / "cohort.csv", encoding="utf-8") as f:
        rows = {row["case"]: row for row in csv.DictReader(f)}
    assert [rows[c]["status"] for c in ("p1", "p2", "p3", "p4")] == ["ok", "ok", "error", "ok"]
    assert rows["p4"]["input"] == str(cohort / "p4")
    p4_result = json.loads((out / "p4_result.json").read_text())
    assert p4_result["series_folder"] == str(cohort / "p4" / "study" / "ct")
    assert "series_folder" not in json.loads((out / "p2_result.json").read_text())
    assert float(rows["p1"]["liver_ml"]) >= 0 and rows["p3"]["error"].startswith("truncated")
    image = nib.load(ct)
    _check_published(out, "p1", image.shape, image.affine, slicer=False)
    _check_published(out, "p2", image.shape, read_volume(dicom_series).affine, slicer=False)
    _check_published(out, "p4", image.shape, read_volume(dicom_series).affine, slicer=False)
    assert not list(out.glob("p3*"))


def test_zipped_dicom_series_is_named_after_the_zip(dicom_series, bundle_root, tmp_path, capsys):
    files = {f"export/series/{p.name}": p for p in sorted(dicom_series.iterdir())}
    archive = _zip_files(tmp_path / "series.zip", files)
    out = tmp_path / "out"
    rc = main([str(archive), "-o", str(out), "--bundle-root", str(bundle_root), "--quiet", "--fast",
               "--tumor-weight", "1.5"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    result = _check_published(out, "series", SHAPE, read_volume(dicom_series).affine)
    assert result["input"] == str(archive) and result["settings"]["fast"] is True
    # The inference settings the bundle ran with: the option given, and the defaults beside it.
    inference = result["settings"]["inference"]
    assert inference["tumor_weight"] == 1.5 and inference["overlap"] == 0.0
    assert inference["background_weight"] == 0.8 and inference["min_lesion_ml"] == 1.0


@pytest.fixture(scope="module")
def zip_run(ct, bundle_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("zip_run")
    archive = _zip_files(folder / "scan.zip", {"upload/case.nii.gz": ct})
    out = folder / "out"
    rc, _, stderr = _run([str(archive), "-o", str(out), "--bundle-root", str(bundle_root), "--quiet"])
    return rc, stderr, archive, out


def test_zipped_nifti_is_named_after_the_zip(zip_run, ct):
    rc, stderr, archive, out = zip_run
    assert rc == 0, stderr
    image = nib.load(ct)
    result = _check_published(out, "scan", image.shape, image.affine)
    assert result["input"] == str(archive)
    assert not (out / "case_seg.nii.gz").exists() and not (out / "volume_seg.nii.gz").exists()


def test_report_of_a_zip_names_no_private_file(zip_run):
    _, _, _, out = zip_run
    report = json.loads((out / "scan_report" / "report.json").read_text(encoding="utf-8"))
    assert ".liver3d-partial-" not in json.dumps(report)


def test_no_slicer_skips_the_slicer_file(ct, bundle_root, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main([str(ct), "-o", str(out), "--bundle-root", str(bundle_root), "--quiet", "--no-slicer"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    image = nib.load(ct)
    _check_published(out, "case", image.shape, image.affine, slicer=False)
    assert not list(out.rglob("*.nrrd"))
    assert "slicer_segmentation" not in captured.out


# -- warnings -------------------------------------------------------------------------------------------


def test_non_ct_input_is_segmented_with_a_warning(ct, bundle_root, tmp_path, capsys):
    mri = np.random.default_rng(5).uniform(0, 800, size=SHAPE).astype(np.int16)
    source = save_nifti(mri, nib.load(ct).affine, tmp_path / "mri.nii.gz")
    out = tmp_path / "out"
    rc = main([str(source), "-o", str(out), "--bundle-root", str(bundle_root), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    warnings = [line for line in _lines(captured.out) if line.startswith("WARNING")]
    assert any(
        line.startswith(f"WARNING {source}: ") and "does not look like a CT" in line for line in warnings
    )
    result = _check_published(out, "mri", SHAPE, nib.load(source).affine)
    report = json.loads((out / "mri_report" / "report.json").read_text(encoding="utf-8"))
    assert "not_ct" in [w["code"] for w in report["warnings"]]
    assert "not_ct" in [w["code"] for w in result["warnings"]]
    assert "does not look like a CT" in (out / "mri_report" / "report.md").read_text(encoding="utf-8")


# -- bad inputs: one ERROR line, exit 1, OUTDIR untouched ---------------------------------------------------


def _bad_input(kind: str, folder: Path, ct: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    image = nib.load(ct)
    data = np.asarray(image.dataobj)
    if kind == "missing":
        return folder / "absent.nii.gz"
    if kind == "truncated":
        raw = ct.read_bytes()
        (folder / "cut.nii.gz").write_bytes(raw[: len(raw) // 2])
        return folder / "cut.nii.gz"
    if kind == "nan":
        values = data.astype(np.float32)
        values[10, 10, 10] = np.nan
        return save_nifti(values, image.affine, folder / "nan.nii.gz")
    if kind == "4d":
        return save_nifti(np.stack([data, data], axis=-1), image.affine, folder / "four.nii.gz")
    if kind == "text":
        (folder / "notes.nii.gz").write_text("this is not a volume\n")
        return folder / "notes.nii.gz"
    if kind == "zip_without_ct":
        (folder / "readme.txt").write_text("no CT here\n")
        return _zip_files(folder / "nothing.zip", {"docs/readme.txt": folder / "readme.txt"})
    if kind == "zip_of_truncated_nifti":
        raw = ct.read_bytes()
        (folder / "half.nii.gz").write_bytes(raw[: len(raw) // 2])
        return _zip_files(folder / "broken.zip", {"half.nii.gz": folder / "half.nii.gz"})
    if kind == "not_a_zip":
        (folder / "fake.zip").write_bytes(b"not a zip archive")
        return folder / "fake.zip"
    if kind == "not_dicom_folder":
        series = folder / "photos"
        series.mkdir()
        (series / "readme.txt").write_text("not DICOM\n")
        (series / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        return series
    if kind == "other_file":
        (folder / "scan.txt").write_text("1 2 3\n")
        return folder / "scan.txt"
    raise AssertionError(kind)


BAD_INPUTS = {
    "missing": "file not found",
    "truncated": "truncated",
    "nan": "NaN",
    "4d": "4D",
    "text": "NIfTI",
    "zip_without_ct": "DICOM",
    "zip_of_truncated_nifti": "truncated",
    "not_a_zip": "zip",
    "not_dicom_folder": "DICOM",
    "other_file": "not a NIfTI file",
}


@pytest.mark.parametrize("existing", [False, True], ids=["new_outdir", "existing_outdir"])
@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_gives_one_error_line_and_leaves_outdir_alone(
    kind, existing, ct, bundle_root, tmp_path, capsys
):
    source = _bad_input(kind, tmp_path / "inputs", ct)
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "keep.txt").write_text("earlier work")
    before = _tree(out) if existing else None
    rc = main([str(source), "-o", str(out), "--bundle-root", str(bundle_root), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1
    lines = _lines(captured.err)
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"ERROR {source}: "), lines[0]
    assert BAD_INPUTS[kind] in lines[0]
    assert ".liver3d-partial-" not in lines[0]  # the user's file is named, never the private copy
    assert captured.out == ""
    if existing:
        assert _tree(out) == before
    else:
        assert not out.exists()


def test_failed_run_leaves_no_parent_folders(ct, bundle_root, tmp_path, capsys):
    out = tmp_path / "new" / "nested" / "out"
    rc = main([str(tmp_path / "absent.nii.gz"), "-o", str(out), "--bundle-root", str(bundle_root)])
    assert rc == 1 and "file not found" in capsys.readouterr().err
    assert not out.exists()
    assert not (tmp_path / "new").exists()


# -- bad weights ----------------------------------------------------------------------------------------


class _ShellPayload:
    """Unpickles into a shell command that creates ``marker``: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"echo pwned > {shlex.quote(self.marker)}",))


class _ExecPayload:
    """Unpickles into ``builtins.exec`` of code that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _bundle_copy(bundle_root: Path, target: Path) -> Path:
    shutil.copytree(bundle_root, target)
    return target


@pytest.mark.parametrize("payload", [_ShellPayload, _ExecPayload], ids=["os.system", "exec"])
@pytest.mark.parametrize("existing", [False, True], ids=["new_outdir", "existing_outdir"])
def test_weights_that_run_code_are_refused_before_anything_runs(
    payload, existing, ct, bundle_root, tmp_path, capsys
):
    root = _bundle_copy(bundle_root, tmp_path / "evil_bundle")
    marker = tmp_path / "marker.txt"
    weights = root / "models" / "stage1" / "model.pt"
    state = _unet().state_dict()
    state["payload"] = payload(marker)
    torch.save(state, weights)
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "keep.txt").write_text("earlier work")
    rc = main([str(ct), "-o", str(out), "--bundle-root", str(root), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1
    assert _lines(captured.err) == [
        f"ERROR {weights.resolve()}: refused: holds code or objects other than tensors "
        "(not a weights-only file)"
    ]
    assert not marker.exists()
    assert captured.out == ""
    if existing:
        assert _tree(out) == {"keep.txt": b"earlier work"}
    else:
        assert not out.exists()
    # The file is a real threat: its pickle calls os.system or exec (read with pickletools, nothing run).
    assert {"system", "exec"} & pickled_names(weights) and not marker.exists()


def test_stage2_weights_of_another_network_do_not_fit(ct, bundle_root, tmp_path, capsys):
    root = _bundle_copy(bundle_root, tmp_path / "other_bundle")
    weights = root / "models" / "stage2" / "model.pt"
    torch.save(_unet(channels=(8, 16, 32, 64, 128)).state_dict(), weights)
    out = tmp_path / "out"
    rc = main([str(ct), "-o", str(out), "--bundle-root", str(root), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1
    errors = [line for line in _lines(captured.err) if line.startswith("ERROR ")]
    assert len(errors) == 1, captured.err
    assert errors[0].startswith(f"ERROR {weights.resolve()}: does not fit the network")
    assert "shape mismatch" in errors[0]
    assert "Traceback" not in captured.err
    assert not out.exists()


def test_missing_weights_are_named(ct, tmp_path, capsys):
    root = tmp_path / "untrained"
    (root / "models").mkdir(parents=True)
    out = tmp_path / "out"
    rc = main([str(ct), "-o", str(out), "--bundle-root", str(root), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 1
    expected = root.resolve() / "models" / "release" / "stage1.pt"
    assert _lines(captured.err) == [
        f"ERROR {expected}: weights file not found (give a local file; nothing is downloaded)"
    ]
    assert not out.exists()


# -- the Python API -------------------------------------------------------------------------------------


def test_segment_api_returns_the_published_outputs(ct, bundle_root, tmp_path):
    out = tmp_path / "api_out"
    result = segment(ct, out, bundle_root=bundle_root, progress=False)
    assert isinstance(result, SegmentResult)
    assert result.case == "case"
    assert set(result.outputs) >= ROLES
    assert all(path.is_file() and path.is_relative_to(out) for path in result.outputs.values())
    assert result.outputs["label_map"] == out / "case_seg.nii.gz"
    assert all(isinstance(c, Caution) for c in result.cautions)
    assert result.liver_ml >= 0 and result.tumor_ml >= 0 and result.lesions >= 0
    assert set(result.seconds) == {"read_and_check", "segment", "report", "write"}
    record = json.loads(result.outputs["result"].read_text(encoding="utf-8"))
    assert record["liver_volume_ml"] == round(result.liver_ml, 2)
    assert record["lesion_count"] == result.lesions
    assert {k: Path(v["path"]) for k, v in record["outputs"].items()} == result.outputs


def test_segment_api_raises_for_a_missing_file(bundle_root, tmp_path):
    missing = tmp_path / "absent.nii.gz"
    out = tmp_path / "api_out"
    with pytest.raises(SegmentInputError) as info:
        segment(missing, out, bundle_root=bundle_root, progress=False)
    assert info.value.path == str(missing) and info.value.problem == "file not found"
    assert str(info.value) == f"{missing}: file not found"
    assert not out.exists()


@pytest.mark.parametrize("device", ["gpu", "cuda:0"])
def test_a_device_that_is_not_there_is_one_error_line(ct, bundle_root, tmp_path, device):
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("a GPU is present here")
    code, out, err = _run(
        [str(ct), "-o", str(tmp_path / "out"), "--bundle-root", str(bundle_root), "--device", device]
    )
    assert code == 1 and _lines(err) == [_lines(err)[0]] and _lines(err)[0].startswith("ERROR --device:")
    assert not (tmp_path / "out").exists()


def test_an_output_path_that_is_a_file_is_one_error_line(ct, bundle_root, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder", encoding="utf-8")
    code, out, err = _run([str(ct), "-o", str(blocker / "out"), "--bundle-root", str(bundle_root)])
    assert code == 1 and len(_lines(err)) == 1 and "cannot write the output folder" in err
    assert blocker.read_text(encoding="utf-8") == "not a folder"


def test_a_zip_named_like_a_nifti_gives_plain_case_names(ct, bundle_root, tmp_path):
    archive = _zip_files(tmp_path / "case_7.nii.gz.zip", {"inner.nii.gz": ct})
    code, out, err = _run(
        [str(archive), "-o", str(tmp_path / "out"), "--bundle-root", str(bundle_root), "--no-slicer"]
    )
    assert code == 0, err
    assert (tmp_path / "out" / "case_7_seg.nii.gz").is_file()


def test_min_lesion_size_turns_small_tumors_into_liver(ct, bundle_root, tmp_path, capsys):
    runs = {}
    for size in ("0", "1000000"):
        out = tmp_path / f"min_{size}"
        rc = main([str(ct), "-o", str(out), "--bundle-root", str(bundle_root), "--quiet", "--no-slicer",
                   "--min-lesion-ml", size])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
        runs[size] = np.asarray(nib.load(out / "case_seg.nii.gz").dataobj)
    kept, removed = runs["0"], runs["1000000"]
    assert (kept == 2).any() and not (removed == 2).any()
    # Only tumor changes, and it becomes liver: the organ outline stays the same.
    assert np.array_equal(kept > 0, removed > 0)
    assert np.array_equal(removed[kept == 2], np.ones(int((kept == 2).sum()), removed.dtype))


def test_fill_and_background_weight_options_reach_the_bundle(monkeypatch, tmp_path):
    import liver3d.segment as segment_module

    seen = []

    def record(*args, settings=None, **kwargs):
        seen.append(settings)
        raise SystemExit(0)

    monkeypatch.setattr(segment_module, "segment", record)
    for flag, expected in (("on", {"fill_liver_holes": True}), ("off", {"fill_liver_holes": False})):
        with pytest.raises(SystemExit):
            segment_module.main(["ct.nii.gz", "-o", str(tmp_path), "--fill-liver-holes", flag])
        assert seen[-1] == expected
    with pytest.raises(SystemExit):
        segment_module.main(
            ["ct.nii.gz", "-o", str(tmp_path), "--background-weight", "0.8", "--tumor-weight", "1.5"]
        )
    assert seen[-1] == {"background_weight": 0.8, "tumor_weight": 1.5}
    with pytest.raises(SystemExit):
        segment_module.main(["ct.nii.gz", "-o", str(tmp_path)])
    assert seen[-1] == {}  # the bundle's defaults
