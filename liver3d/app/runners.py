"""Running a registered bundle on one checked upload, and collecting what the viewer shows and offers.

Each runner parses the entry's bundle configs (MONAI ``ConfigParser``, with the entry's overrides and the
upload as the input), runs the bundle's own components, and returns a :class:`RunResult`: arrays in RAS
voxel order for display (label map, CAM volumes), class probabilities, the structured report and the files
to download. ``progress(fraction, message)`` is called between steps.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liver3d.app.registry import ModelEntry
from liver3d.app.uploads import StagedInput
from liver3d.bundle_support import raise_input_errors
from liver3d.data.datalist import case_name
from liver3d.errors import InputError
from liver3d.geometry import to_ras
from liver3d.io.atomic import atomic_path, write_json_atomic
from liver3d.io.readers import read_array

Progress = Callable[[float, str], None]


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


def read_volume_ras(path: str | Path) -> tuple[np.ndarray, tuple[float, float, float], np.ndarray]:
    """A volume (NIfTI or DICOM series) as float32 in RAS voxel order, its spacing (mm) and stored affine."""
    array, affine = read_array(path)
    ras, spacing = to_ras(np.asarray(array, dtype=np.float32), affine)
    return ras, spacing, affine


def run_segmentation(
    entry: ModelEntry, staged: StagedInput, out_dir: Path, progress: Progress, earlier: dict
) -> RunResult:
    """The liver_tumor_seg cascade (``inference.json``): label NIfTI, Slicer segmentation, report."""
    from liver3d.report import build_report, to_markdown

    outputs = out_dir / "segmentation"
    with bundle_errors(entry):
        parser = entry.parser(input=str(staged.path), output_dir=str(outputs), save_slicer=True)
        parser.get_parsed_content("initialize")
        progress(0.3, "cascade inference: liver ROI (stage 1), then liver and tumor (stage 2)")
        parser.get_parsed_content("run")
    case = case_name(str(staged.path))
    seg, slicer = outputs / f"{case}_seg.nii.gz", outputs / f"{case}.seg.nrrd"
    if not seg.is_file():
        raise RunError(f"the bundle finished without writing {seg.name}")
    progress(0.85, "structured report (volumes, lesions, diameters)")
    with bundle_errors(entry):
        report, paths = build_report(seg, out_dir / "report", staged.path)
    label, _, _ = read_volume_ras(seg)
    result = RunResult("segmentation", entry.name, label=label.astype(np.uint8))
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
    result.files = {
        "label map (NIfTI)": seg,
        "3D Slicer segmentation (.seg.nrrd)": slicer,
        "report (JSON)": paths["json"],
        "report (Markdown)": paths["markdown"],
    }
    return result


def run_slice_classifier(
    entry: ModelEntry, staged: StagedInput, out_dir: Path, progress: Progress, earlier: dict
) -> RunResult:
    """The liver_slice_cls classifier on every axial slice: per-slice probabilities and Grad-CAM volumes
    (per structure, on the upload's grid, as NIfTI)."""
    case = {"image": str(staged.path)}
    with bundle_errors(entry):
        parser = entry.parser(eval_data=[case], label_optional=True)
        evaluator, class_names = _loaded_cam_evaluator(parser)
        progress(0.3, "classifying every axial slice and computing Grad-CAM")
        cams, affine, probs = evaluator.case_cam(case)
    result = RunResult("slice_classifier", entry.name, class_names=class_names)
    result.slice_probabilities = np.asarray(probs, dtype=np.float32)
    progress(0.85, "writing CAM volumes and the slice table")
    _add_cam_volumes(result, evaluator.structures, cams, affine, out_dir / "cams")
    result.report = slice_report(result.slice_probabilities, class_names)
    result.probabilities = result.report["volume_max_probability"]
    result.report_markdown = slice_report_markdown(result.report)
    result.files.update(_write_report(result.report, result.report_markdown, out_dir / "report"))
    return result


def run_volume_classifier(
    entry: ModelEntry, staged: StagedInput, out_dir: Path, progress: Progress, earlier: dict
) -> RunResult:
    """The liver_volume_cls classifier (tumor present or not) on the volume, with its 3D Grad-CAM (NIfTI).

    A model trained on liver-ROI crops (the bundle's default) needs a liver mask: it takes the label map of a
    segmentation run on the same upload (run the cascade first). A model trained with ``whole_volume.json``
    needs none.
    """
    case = {"image": str(staged.path)}
    with bundle_errors(entry):
        parser = entry.parser(eval_data=[case], label_optional=True)
        if parser.get("roi_transforms"):
            segmentation = earlier.get("segmentation")
            if segmentation is None:
                raise RunError(
                    f"model {entry.name!r} classifies the liver ROI: run a segmentation model on this upload first"
                )
            case["label"] = str(segmentation.files["label map (NIfTI)"])
        evaluator, class_names = _loaded_cam_evaluator(parser)
        progress(0.35, "classifying the volume and computing its 3D Grad-CAM")
        cams, affine, probs = evaluator.case_cam(case)
    result = RunResult("volume_classifier", entry.name, class_names=class_names)
    result.probabilities = {n: round(float(p), 5) for n, p in zip(class_names, np.asarray(probs)[0])}
    _add_cam_volumes(result, evaluator.structures, cams, affine, out_dir / "cams")
    predicted = max(result.probabilities, key=result.probabilities.get)
    result.report = {
        "kind": "volume classification",
        "predicted": predicted,
        "probabilities": result.probabilities,
        "region": "liver ROI from the segmentation" if "label" in case else "whole volume",
    }
    lines = [
        f"**Predicted: {predicted}** ({result.report['region']})",
        "",
        *_probability_table(result.probabilities),
    ]
    result.report_markdown = "\n".join(lines) + "\n"
    result.files.update(_write_report(result.report, result.report_markdown, out_dir / "report"))
    return result


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


def run_image2d(
    entry: ModelEntry, staged: StagedInput, out_dir: Path, progress: Progress, earlier: dict
) -> RunResult:
    """A 2D study classifier (image_cls_2d): class probabilities, multi-layer Grad-CAM, hot-region boxes."""
    from skimage.transform import resize

    from liver3d.cam import compute_cams, hot_regions

    eval_data = [{"image": str(staged.path), "label": -1, "patient_id": "upload", "class_name": "unknown"}]
    with bundle_errors(entry):
        parser = entry.parser(eval_data=eval_data)
        localizer = parser.get_parsed_content("cam_localizer")
        _load_weights(parser, localizer.network)
    progress(0.4, "classifying and computing Grad-CAM")
    network = localizer.network.to(localizer.device).eval()
    image = localizer.dataset.images[0][None].to(localizer.device)
    import torch

    with torch.no_grad():
        probs = torch.softmax(network(image).float(), 1)[0].cpu().numpy()
    target = int(probs.argmax())
    cams = {
        k: v[0] for k, v in compute_cams(network, image, localizer.layers, [target], localizer.method).items()
    }
    height, width = localizer.dataset.original_sizes[0]
    box_cam = cams[localizer.box_layer]
    regions = hot_regions(
        box_cam,
        localizer.threshold,
        localizer.min_area,
        scale=(height / box_cam.shape[0], width / box_cam.shape[1]),
    )
    names = list(localizer.class_names)
    result = RunResult("image2d", entry.name, class_names=names, regions=regions)
    result.probabilities = {n: round(float(p), 5) for n, p in zip(names, probs)}
    result.cams = {k: resize(v, (height, width), order=1, preserve_range=True) for k, v in cams.items()}
    progress(0.85, "writing the CAM and the report")
    from liver3d.io.nifti import save_nifti

    cam_map = result.cams[localizer.box_layer].astype(np.float32)
    # NIfTI of the 2D CAM: (W, H, 1) with the one-slice-NIfTI convention of read_image_2d (flipud(array.T)).
    cam_path = save_nifti(np.flipud(cam_map).T[..., None], np.eye(4), out_dir / "cams" / "cam.nii.gz")
    result.files["Grad-CAM (NIfTI)"] = cam_path
    result.report = {
        "kind": "2D image classification",
        "predicted": names[target],
        "probabilities": result.probabilities,
        "cam_class": names[target],
        "cam_layer": localizer.box_layer,
        "cam_threshold": localizer.threshold,
        "image_size_hw": [int(height), int(width)],
        "regions": regions,
    }
    result.report_markdown = image2d_report_markdown(result.report)
    result.files.update(_write_report(result.report, result.report_markdown, out_dir / "report"))
    return result


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
    case = case_name(str(staged.path))
    return staged.stem + name[len(case) :] if name.startswith(case) else f"{staged.stem}_{name}"


def _load_weights(parser, network) -> None:
    """Load the bundle's ``model_path`` checkpoint into ``network`` on the bundle's device."""
    from liver3d.networks.weights import load_weights

    load_weights(network, parser.get_parsed_content("model_path"))  # strict; a misfit is a WeightsError
    network.to(parser.get_parsed_content("device"))


def _loaded_cam_evaluator(parser):
    """The bundle's ``cam_evaluator`` with its network's weights loaded, and the class names."""
    evaluator = parser.get_parsed_content("cam_evaluator")
    _load_weights(parser, evaluator.network)
    evaluator.network.eval()
    return evaluator, list(parser.get_parsed_content("class_names"))


def _add_cam_volumes(result: RunResult, structures, cams: np.ndarray, affine, folder: Path) -> None:
    """Write each structure's CAM volume (input grid) as NIfTI, and keep it in RAS order for display."""
    from liver3d.io.nifti import save_nifti

    for structure, cam in zip(structures, cams):
        path = save_nifti(cam.astype(np.float32), affine, folder / f"cam_{structure.name}.nii.gz")
        result.cams[structure.name] = to_ras(cam, affine)[0]
        result.files[f"Grad-CAM {structure.name} (NIfTI)"] = path


def _probability_table(probabilities: dict[str, float]) -> list[str]:
    return ["| class | probability |", "|---|---|", *[f"| {n} | {p:.3f} |" for n, p in probabilities.items()]]


def _write_report(report: dict, markdown: str, folder: Path) -> dict[str, Path]:
    json_path = write_json_atomic(folder / "report.json", report)
    with atomic_path(folder / "report.md") as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    return {"report (JSON)": json_path, "report (Markdown)": folder / "report.md"}


# Each runner: (entry, staged input, output folder, progress, earlier results by task) -> RunResult.
RUNNERS: dict[str, Callable[..., RunResult]] = {
    "segmentation": run_segmentation,
    "slice_classifier": run_slice_classifier,
    "volume_classifier": run_volume_classifier,
    "image2d": run_image2d,
}
ACCEPTS = {
    "segmentation": "volume",
    "slice_classifier": "volume",
    "volume_classifier": "volume",
    "image2d": "image2d",
}


def run_model(
    entry: ModelEntry,
    staged: StagedInput,
    out_dir: str | Path,
    progress: Progress | None = None,
    earlier: dict[str, RunResult] | None = None,
) -> RunResult:
    """Run ``entry`` on ``staged``; outputs go under ``out_dir`` (created). ``earlier``: results of other
    models on the same upload, by task (a liver-ROI volume classifier uses the segmentation's label map)."""
    if ACCEPTS[entry.task] != staged.kind:
        wanted = "a CT volume (NIfTI or zipped DICOM)" if ACCEPTS[entry.task] == "volume" else "a 2D image"
        raise RunError(f"model {entry.name!r} takes {wanted}; {staged.display_name} is not one")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = _quiet(progress)
    start = time.perf_counter()
    require_checkpoints(entry)
    progress(0.15, f"loading the {entry.bundle} bundle and its checkpoint")
    result = RUNNERS[entry.task](entry, staged, out_dir, progress, earlier or {})
    result.seconds = time.perf_counter() - start
    progress(1.0, f"done in {result.seconds:.1f} s")
    return result


__all__ = ["RunError", "RunResult", "read_volume_ras", "run_model"]
