"""Running a registered bundle on one checked upload, and collecting what the viewer shows and offers.

One runner for every bundle: :func:`run_model` runs the entry's bundle workflow (its configs, then the
inference configs its ``metadata.json`` declares; MONAI ``ConfigWorkflow`` with the entry's overrides and
the upload as ``input``), reads the ``result.json`` the bundle wrote (:mod:`liver3d.manifest`) and builds a
:class:`RunResult` from the listed files by their declared kind: arrays in RAS voxel order for display (label
map, CAM and error volumes), class and slice probabilities, the structured report of a label map and the
files to download. It names no config id of any bundle. ``progress(fraction, message)`` is called between
steps.
"""

from __future__ import annotations

import contextlib
import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liver3d.app.registry import ModelEntry
from liver3d.app.uploads import StagedInput
from liver3d.bundle_support import raise_input_errors
from liver3d.cam.localize2d import image_case
from liver3d.data.datalist import case_name
from liver3d.errors import InputError
from liver3d.geometry import Volume
from liver3d.io.atomic import atomic_path, write_json_atomic
from liver3d.io.readers import read_volume
from liver3d.manifest import read_result_manifest

Progress = Callable[[float, str], None]
LABEL_MAP = "label map (NIfTI)"


class RunError(RuntimeError):
    """A run that could not finish; the message says why in one or a few lines."""


@dataclass
class RunResult:
    """What one run produced. Arrays are in RAS voxel order on the upload's grid (2D: (H, W))."""

    task: str
    model: str
    seconds: float = 0.0
    label: np.ndarray | None = None
    cams: dict[str, np.ndarray] = field(default_factory=dict)
    probabilities: dict[str, float] = field(default_factory=dict)
    slice_probabilities: np.ndarray | None = None  # (Z, C) for a slice classifier
    class_names: list[str] = field(default_factory=list)
    regions: list[dict] = field(default_factory=list)  # 2D hot regions in image pixels
    report: dict = field(default_factory=dict)
    report_markdown: str = ""
    files: dict[str, Path] = field(default_factory=dict)  # download title -> file


def _quiet(progress: Progress | None) -> Progress:
    return progress or (lambda fraction, message: None)


def require_checkpoints(entry: ModelEntry) -> None:
    missing = entry.missing
    if missing:
        raise RunError(f"model {entry.name!r}: checkpoint not found: {', '.join(str(p) for p in missing)}")


@contextlib.contextmanager
def bundle_errors(entry: ModelEntry):
    """Run a bundle's components with typed input errors (:func:`liver3d.bundle_support.raise_input_errors`)
    and turn any :class:`~liver3d.errors.InputError` (bad upload, checkpoint, datalist) into a :class:`RunError`."""
    try:
        with raise_input_errors():
            yield
    except InputError as err:
        raise RunError("\n".join(err.lines())) from err


def read_volume_ras(path: str | Path) -> Volume:
    """A volume (NIfTI or DICOM series) as float32 in RAS voxel order (``.spacing`` in that order too)."""
    return read_volume(path).as_float32().to_ras()


def _earlier_label_map(earlier: dict[str, RunResult]) -> Path | None:
    """The label map file of an earlier run on the same upload (a segmentation), if any."""
    for result in earlier.values():
        if result.label is not None and LABEL_MAP in result.files:
            return Path(result.files[LABEL_MAP])
    return None


def run_bundle(
    entry: ModelEntry, staged: StagedInput, out_dir: Path, progress: Progress, label_map: Path | None
) -> dict:
    """The entry's bundle workflow (its configs, then the declared inference configs) on the upload; the
    ``result.json`` it wrote, read and checked."""
    from monai.bundle import ConfigWorkflow

    outputs = out_dir / "bundle"
    contract = entry.contract
    overrides = {
        **entry.overrides,
        contract["input_key"]: str(staged.path),
        contract["output_dir_key"]: str(outputs),
    }
    label_key = contract.get("label_input")
    if label_key and label_map is not None:
        overrides[label_key] = str(label_map)
    with bundle_errors(entry):
        workflow = ConfigWorkflow(
            config_file=entry.config_files(entry.run_configs),
            meta_file=str(entry.bundle_configs / "metadata.json"),
            logging_file=False,
            workflow_type=None,
            **overrides,
        )
        workflow.initialize()
        progress(0.3, f"running {entry.bundle}: {entry.title}")
        workflow.run()
        workflow.finalize()
        return read_result_manifest(outputs)


def result_from_manifest(
    entry: ModelEntry, manifest: dict, staged: StagedInput, out_dir: Path, from_segmentation: bool
) -> RunResult:
    """What the viewer shows and offers, read from the files the manifest lists, by their declared kind."""
    if len(manifest["cases"]) != 1:
        raise RunError(f"{entry.bundle} listed {len(manifest['cases'])} cases for one upload")
    outputs = {**manifest["outputs"], **manifest["cases"][0]["outputs"]}
    result = RunResult(entry.task, entry.name)
    image_cams = []
    for role, item in outputs.items():
        kind, path = item["kind"], Path(item["path"])
        name = item.get("structure") or role
        if kind == "label_map":
            result.label = read_volume_ras(path).array.astype(np.uint8)
            result.files[LABEL_MAP] = path
        elif kind == "slicer_segmentation":
            result.files["3D Slicer segmentation (.seg.nrrd)"] = path
        elif kind == "probabilities":
            result.files["probabilities (NIfTI)"] = path
        elif kind == "cam_volume":
            result.cams[name] = read_volume_ras(path).array
            result.files[f"Grad-CAM {name} (NIfTI)"] = path
        elif kind == "error_map":
            result.cams["reconstruction error"] = read_volume_ras(path).array
            result.files["reconstruction error (NIfTI)"] = path
        elif kind == "slice_probabilities":
            _slice_probabilities(result, path)
        elif kind == "class_probabilities":
            result.probabilities = json.loads(path.read_text(encoding="utf-8"))
            result.class_names = list(result.probabilities)
            region = "liver ROI from the segmentation" if from_segmentation else "whole volume"
            _volume_report(result, region)
        elif kind == "cam_regions":
            _image_record(result, json.loads(path.read_text(encoding="utf-8")))
        elif kind == "cam_image":
            image_cams.append(path)
    for path in image_cams:  # after cam_regions, which names the layer
        from liver3d.io.images2d import read_image_2d

        layer = result.report.get("cam_layer", "CAM")
        result.cams[layer] = read_image_2d(path, 1)[0].astype(np.float32)
        result.files["Grad-CAM (NIfTI)"] = path
    if result.label is not None:
        _structured_report(result, staged, out_dir)
    elif result.report:
        result.files.update(_write_report(result.report, result.report_markdown, out_dir / "report"))
    return result


def _slice_probabilities(result: RunResult, path: Path) -> None:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in rows[0] if c.startswith("p_")] if rows else []
    result.class_names = [c[2:] for c in columns]
    result.slice_probabilities = np.array([[float(r[c]) for c in columns] for r in rows], dtype=np.float32)
    result.report = slice_report(result.slice_probabilities, result.class_names)
    result.probabilities = result.report["volume_max_probability"]
    result.report_markdown = slice_report_markdown(result.report)


def _volume_report(result: RunResult, region: str) -> None:
    predicted = max(result.probabilities, key=result.probabilities.get)
    result.report = {
        "kind": "volume classification",
        "predicted": predicted,
        "probabilities": result.probabilities,
        "region": region,
    }
    lines = [f"**Predicted: {predicted}** ({region})", "", *_probability_table(result.probabilities)]
    result.report_markdown = "\n".join(lines) + "\n"


def _image_record(result: RunResult, records: list[dict]) -> None:
    if len(records) != 1:
        raise RunError(f"expected the record of one image, the bundle wrote {len(records)}")
    (record,) = records
    result.class_names = list(record["probabilities"])
    result.probabilities = record["probabilities"]
    result.regions = record["regions"]
    result.report = {
        "kind": "2D image classification",
        "predicted": record["predicted"],
        "probabilities": record["probabilities"],
        "cam_class": record["cam_class"],
        "cam_layer": record["cam_layer"],
        "cam_threshold": record["threshold"],
        "image_size_hw": record["image_size_hw"],
        "regions": record["regions"],
    }
    result.report_markdown = image2d_report_markdown(result.report)


def _structured_report(result: RunResult, staged: StagedInput, out_dir: Path) -> None:
    """The structured report of a label map (volumes, lesions, diameters), with the user's file names."""
    from liver3d.report import build_report, to_markdown

    seg = Path(result.files[LABEL_MAP])
    report, paths = build_report(seg, out_dir / "report", staged.path)
    # The report names the files it measured; show the user's file name rather than the server's paths.
    names = {
        str(seg): f"{staged.stem}_seg.nii.gz",
        str(staged.path): staged.display_name,
        seg.name: f"{staged.stem}_seg.nii.gz",
    }
    result.report = {k: names.get(v, v) if isinstance(v, str) else v for k, v in report.to_dict().items()}
    result.report_markdown = to_markdown(report)
    for server_path, shown in names.items():
        result.report_markdown = result.report_markdown.replace(server_path, shown)
    result.files.update({"report (JSON)": paths["json"], "report (Markdown)": paths["markdown"]})


def slice_report(probs: np.ndarray, class_names: list[str]) -> dict:
    """Per class: the axial slices (RAS index) where it is the predicted class, and its highest probability."""
    predicted = probs.argmax(1)
    classes = {}
    for c, name in enumerate(class_names):
        slices = np.flatnonzero(predicted == c)
        classes[name] = {
            "slices_predicted": int(len(slices)),
            "slice_range": [int(slices[0]), int(slices[-1])] if len(slices) else None,
            "max_probability": round(float(probs[:, c].max()), 4),
            "max_probability_slice": int(probs[:, c].argmax()),
        }
    return {
        "kind": "slice classification",
        "slices": int(len(probs)),
        "classes": classes,
        "volume_max_probability": {n: classes[n]["max_probability"] for n in class_names},
    }


def slice_report_markdown(report: dict) -> str:
    lines = [
        f"**Slice classification** of {report['slices']} axial slices",
        "",
        "| class | slices predicted | slice range | highest probability | at slice |",
        "|---|---|---|---|---|",
    ]
    for name, row in report["classes"].items():
        span = "-" if row["slice_range"] is None else f"{row['slice_range'][0]}-{row['slice_range'][1]}"
        lines.append(
            f"| {name} | {row['slices_predicted']} | {span} | {row['max_probability']:.3f} | "
            f"{row['max_probability_slice']} |"
        )
    return "\n".join(lines) + "\n"


def image2d_report_markdown(report: dict) -> str:
    lines = [f"**Predicted: {report['predicted']}**", "", *_probability_table(report["probabilities"])]
    lines += [
        "",
        f"Grad-CAM of {report['cam_class']} ({report['cam_layer']}), hot regions at {report['cam_threshold']:.2f}:",
        "",
        "| region | box x0, y0, x1, y1 (px) | area (px) | peak |",
        "|---|---|---|---|",
    ]
    for i, r in enumerate(report["regions"], 1):
        box = ", ".join(f"{v:.0f}" for v in r["bbox_xyxy"])
        lines.append(f"| {i} | {box} | {r['area_px']:.0f} | {r['peak']:.2f} |")
    if not report["regions"]:
        lines.append("| - | none above the threshold | - | - |")
    return "\n".join(lines) + "\n"


def download_name(path: str | Path, staged: StagedInput) -> str:
    """The name a result file is offered under: the upload's name in place of the server's case name."""
    name = Path(path).name
    for case in (case_name(str(staged.path)), image_case(staged.path)):  # a volume's case, a 2D image's
        if name.startswith(case):
            return staged.stem + name[len(case) :]
    return f"{staged.stem}_{name}"


def _probability_table(probabilities: dict[str, float]) -> list[str]:
    return ["| class | probability |", "|---|---|", *[f"| {n} | {p:.3f} |" for n, p in probabilities.items()]]


def _write_report(report: dict, markdown: str, folder: Path) -> dict[str, Path]:
    json_path = write_json_atomic(folder / "report.json", report)
    with atomic_path(folder / "report.md") as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    return {"report (JSON)": json_path, "report (Markdown)": folder / "report.md"}


def run_model(
    entry: ModelEntry,
    staged: StagedInput,
    out_dir: str | Path,
    progress: Progress | None = None,
    earlier: dict[str, RunResult] | None = None,
) -> RunResult:
    """Run ``entry`` on ``staged``; outputs go under ``out_dir`` (created). ``earlier``: results of other
    models on the same upload (a bundle that declares a ``label_input``, the liver-ROI volume classifier,
    gets the label map of an earlier segmentation)."""
    if entry.accepts != staged.kind:
        wanted = "a CT volume (NIfTI or zipped DICOM)" if entry.accepts == "volume" else "a 2D image"
        raise RunError(f"model {entry.name!r} takes {wanted}; {staged.display_name} is not one")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = _quiet(progress)
    start = time.perf_counter()
    require_checkpoints(entry)
    progress(0.15, f"loading the {entry.bundle} bundle and its checkpoint")
    label_map = _earlier_label_map(earlier or {})
    manifest = run_bundle(entry, staged, out_dir, progress, label_map)
    progress(0.85, "reading the outputs the bundle declared (result.json)")
    with bundle_errors(entry):
        result = result_from_manifest(
            entry, manifest, staged, out_dir, from_segmentation=label_map is not None
        )
    result.seconds = time.perf_counter() - start
    progress(1.0, f"done in {result.seconds:.1f} s")
    return result


__all__ = ["RunError", "RunResult", "read_volume_ras", "run_model"]
