"""``liver3d segment INPUT -o OUTDIR``: liver and tumor segmentation of one CT with the shipped model.

INPUT is a NIfTI file, a DICOM series folder or a zip holding either (a folder with several image series: the
largest is read, and a warning names it; a patient's export, ``<patient>/<study>/<series>/``, is read from its
one series folder, which ``result.json`` records), or a folder of those, a cohort (:mod:`liver3d.cohort`: each CT
as below, and ``cohort.csv``). The command runs the
``liver_tumor_seg`` bundle's ``inference.json`` (the same result as ``python -m monai.bundle run --config_file
bundles/liver_tumor_seg/configs/inference.json --input INPUT``) with the release weights shipped in
``bundles/liver_tumor_seg/models/release/`` (``--bundle-root`` for a bundle you trained), then writes into
OUTDIR:

- ``<case>_seg.nii.gz``: the label map (0 background, 1 liver, 2 tumor) on the input's own grid;
- ``<case>.seg.nrrd``: the same as a 3D Slicer segmentation (named, coloured segments);
- ``<case>_report/``: the structured report (``report.json``, ``report.md``, ``report.html``) and its
  three-plane figure ``<case>_seg_planes.png``, with a "Warnings" section when something is doubtful;
- ``<case>_seg.dcm`` (``--dicom-seg``, DICOM series input only): the same as a DICOM Segmentation
  (highdicom) referencing the source series, for PACS and clinical viewers;
- ``<case>_result.json``: what was run (input, weights and their SHA-256, settings: ``fast``, ``device`` and
  under ``inference`` every ``inference.json`` setting the bundle ran with), every output with its meaning, the
  warnings and the time each step took.

It warns, in its output and in the report, when the input does not look like a CT in HU, when the field of
view holds no liver and when a liver or lesion found is implausible (:mod:`liver3d.inference.sanity`). Bad input
(missing, corrupt or truncated file, NaN, 4D, a zip that is not a CT) gives one ``ERROR <file>: <problem>``
line and exit code 1, and nothing is written to OUTDIR: every file is made in a private folder first and
moved into OUTDIR only when all of them exist.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liver3d.bundle_support import raise_input_errors
from liver3d.cohort import cohort_inputs, segment_cohort
from liver3d.data.checks import check_image_data, check_volume_header
from liver3d.data.datalist import case_name, input_case_name
from liver3d.errors import InputError
from liver3d.geometry import Volume
from liver3d.inference.sanity import Caution, check_ct_intensities, check_segmentation
from liver3d.io.archive import ArchiveError, is_zip, unpack_ct_zip
from liver3d.io.atomic import write_json_atomic
from liver3d.io.dicom_series import DicomFolderError, largest_series, series_folder_below
from liver3d.io.readers import VolumeError, is_dicom_series, is_nifti, read_volume
from liver3d.networks.ensemble import ensemble_members
from liver3d.networks.weights import read_weights, sha256_of, stage_checkpoint
from liver3d.paths import bundle_dir

BUNDLE_ROOT = bundle_dir("liver_tumor_seg")
STEPS = ("read and check", "segment (stage 1 + 2)", "report", "write")
QUIET_LOGGING = """[loggers]
keys=root
[handlers]
keys=console
[formatters]
keys=plain
[logger_root]
level=WARNING
handlers=console
[handler_console]
class=StreamHandler
level=WARNING
formatter=plain
args=(sys.stderr,)
[formatter_plain]
format=%(levelname)s %(name)s: %(message)s
"""


class SegmentInputError(InputError):
    """An input ``liver3d segment`` cannot use: ``"<file>: <problem>"``."""


@dataclass
class SegmentResult:
    """What one run produced: output files by role, cautions, volumes and step timings (s)."""

    case: str
    outputs: dict[str, Path]
    cautions: list[Caution] = field(default_factory=list)
    liver_ml: float = 0.0
    tumor_ml: float = 0.0
    lesions: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def resolve_input(source: str | Path, staging: Path) -> Path:
    """The NIfTI file or DICOM series folder to segment; a zip is unpacked under ``staging``; a folder without a
    series of its own but with one folder of DICOM files below it (a patient's export) gives that folder."""
    path = Path(source)
    if not path.exists():
        raise SegmentInputError(path, "file not found")
    if path.is_file() and is_zip(path):
        try:
            return unpack_ct_zip(path.read_bytes(), staging / "input", path.name)
        except ArchiveError as err:
            raise SegmentInputError(path, err.problem) from err
    if path.is_file() and is_nifti(path):
        return path
    if path.is_dir() and largest_series(path) is None:  # a patient's export, <patient>/<study>/<series>/
        try:
            below = series_folder_below(path)
        except DicomFolderError as err:
            raise SegmentInputError(path, str(err)) from err
        return below or path  # no DICOM below: reading the folder says so
    if path.is_dir() and is_dicom_series(path):
        return path
    raise SegmentInputError(
        path, "not a NIfTI file (.nii, .nii.gz), a DICOM series folder or a zip of either"
    )


def read_checked_ct(path: Path, shown: str | Path) -> tuple[Volume, list[Caution]]:
    """A 3D CT (voxels in HU with their affine), with cautions about its intensities; errors name ``shown``."""
    findings, _ = check_volume_header(str(path), "image")
    errors = [f for f in findings if f.severity == "ERROR"]
    if errors:
        raise SegmentInputError(shown, errors[0].problem)
    try:
        ct = read_volume(path)
    except VolumeError as err:
        raise SegmentInputError(shown, err.problem) from err
    errors = [f for f in check_image_data(str(path), ct.array) if f.severity == "ERROR"]
    if errors:
        raise SegmentInputError(shown, errors[0].problem)
    return ct, check_ct_intensities(ct.array)


def series_choice(image: Path) -> list[Caution]:
    """A caution naming the series read when the DICOM folder ``image`` holds several (liver3d reads the largest)."""
    choice = largest_series(image) if image.is_dir() else None
    if choice is None or choice.among < 2:
        return []
    return [
        Caution(
            "several_dicom_series",
            f"the folder holds {choice.among} image series; the largest was segmented, {choice.series.describe()}; "
            "give the folder of one series to segment another",
        )
    ]


def _weights(bundle_root: Path) -> dict[str, dict]:
    """Per stage: the weights file the config names, its SHA-256, and every ensemble member (itself first)."""
    files = {}
    for stage in ("stage1", "stage2"):
        path = Path(stage_checkpoint(bundle_root / "models", stage))
        members = []
        for member in ensemble_members(path):
            read_weights(member)  # checks the file (and its recorded SHA-256) before any work
            members.append({"path": str(member), "sha256": sha256_of(member)})
        files[stage] = {**members[0], "members": members}
    return files


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("liver3d")
    except PackageNotFoundError:
        return "unknown"


def check_device(device: str | None) -> str | None:
    """``device`` as torch understands it, or a :class:`SegmentInputError` (e.g. ``cuda`` without a GPU)."""
    if not device:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise SegmentInputError("--device", f"{device!r} is not a device ({err})") from err
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise SegmentInputError("--device", f"{device!r}: no CUDA GPU is available here")
    return str(parsed)


def _run_bundle(
    bundle_root: Path,
    image: Path,
    out: Path,
    fast: bool,
    device: str | None,
    slicer: bool,
    settings: dict | None = None,
) -> None:
    from monai.bundle import ConfigWorkflow

    overrides = {
        "bundle_root": str(bundle_root),
        "input": str(image),
        "output_dir": str(out),
        "save_slicer": slicer,
    }
    overrides.update(settings or {})
    if fast:
        overrides["overlap"] = 0.0
    if device:
        overrides["device"] = f"$torch.device('{device}')"
        overrides["amp"] = device.startswith("cuda")
    configs = BUNDLE_ROOT / "configs"
    quiet = out.parent / "logging.conf"  # warnings and errors only: the command prints its own summary
    quiet.write_text(QUIET_LOGGING, encoding="utf-8")
    bundle_logger = logging.getLogger("monai.bundle.workflows")
    level = bundle_logger.level
    bundle_logger.setLevel(logging.WARNING)  # its "Setting logging properties" line names the private folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workflow = ConfigWorkflow(
            config_file=str(configs / "inference.json"),
            meta_file=str(configs / "metadata.json"),
            logging_file=str(quiet),
            workflow_type="infer",
            **overrides,
        )
        bundle_logger.setLevel(level)
        with raise_input_errors():  # a bad input or weight file arrives here as its InputError
            workflow.initialize()
            workflow.run()
        workflow.finalize()


def segment(
    source: str | Path,
    out_dir: str | Path,
    *,
    bundle_root: str | Path | None = None,
    fast: bool = False,
    device: str | None = None,
    slicer: bool = True,
    dicom_seg: bool = False,
    progress: bool = True,
    settings: dict | None = None,
) -> SegmentResult:
    """Segment one CT into ``out_dir`` (see the module docstring for what is written).

    ``settings`` are extra ``inference.json`` overrides, e.g. ``{"fine_pixdim": [1.5, 1.5, 2.0]}`` for a bundle
    root trained at another grid.

    Raises :class:`SegmentInputError` (bad input) or :class:`~liver3d.networks.weights.WeightsError`
    (missing or damaged weights); ``out_dir`` is then left as it was.
    """
    from tqdm import tqdm

    from liver3d.report.build import build_report

    source = Path(source)
    out_dir = Path(out_dir)
    bundle_root = Path(bundle_root).resolve() if bundle_root else BUNDLE_ROOT
    device = check_device(device)
    created = _first_missing(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".liver3d-partial-", dir=out_dir))
    except OSError as err:
        _remove_if_empty(out_dir, created)
        raise SegmentInputError(out_dir, f"cannot write the output folder ({err.strerror or err})") from err
    bar = tqdm(
        total=len(STEPS),
        disable=None if progress else True,
        file=sys.stderr,
        bar_format="{desc} {bar} {n}/{total}",
    )
    seconds: dict[str, float] = {}
    try:
        clock = time.perf_counter()
        bar.set_description(STEPS[0])
        image = resolve_input(source, staging)
        if dicom_seg and not is_dicom_series(image):
            raise SegmentInputError(
                source, "--dicom-seg needs a DICOM series as input (a DICOM SEG references it)"
            )
        case = input_case_name(source)
        ct, cautions = read_checked_ct(image, source)
        cautions = series_choice(image) + cautions
        weights = _weights(bundle_root)
        seconds["read_and_check"] = time.perf_counter() - clock
        bar.update()

        clock = time.perf_counter()
        bar.set_description(STEPS[1])
        raw = staging / "bundle"
        _run_bundle(bundle_root, image, raw, fast, device, slicer, settings)
        inference_settings = _bundle_settings(raw)
        produced = case_name(str(image))
        label_path = raw / f"{produced}_seg.nii.gz"
        if not label_path.is_file():
            raise SegmentInputError(source, "the bundle wrote no segmentation (see the messages above)")
        seconds["segment"] = time.perf_counter() - clock
        bar.update()

        clock = time.perf_counter()
        bar.set_description(STEPS[2])
        final = staging / "final"
        final.mkdir()
        label_final = final / f"{case}_seg.nii.gz"
        shutil.move(label_path, label_final)
        outputs = {"label_map": label_final}
        if slicer and (raw / f"{produced}.seg.nrrd").is_file():
            outputs["slicer_segmentation"] = final / f"{case}.seg.nrrd"
            shutil.move(raw / f"{produced}.seg.nrrd", outputs["slicer_segmentation"])
        label = read_volume(label_final)
        if dicom_seg:
            from liver3d.export.dicom_seg import DicomSegError, write_dicom_seg

            try:
                written = write_dicom_seg(
                    np.asarray(label.array), label.affine, image, final / f"{case}_seg.dcm", _version()
                )
            except DicomSegError as err:
                raise SegmentInputError(source, f"DICOM SEG: {err.path}: {err.problem}") from err
            outputs["dicom_seg"] = written.path
            if written.filled_identifiers:
                cautions = cautions + [
                    Caution(
                        "dicom_identifiers",
                        "the source series has blank "
                        + ", ".join(written.filled_identifiers)
                        + " (de-identified?); "
                        "the DICOM SEG references identifiers filled in from the file headers or derived from the "
                        "Frame of Reference UID, which a PACS holding the original series will not match",
                    )
                ]
        cautions = cautions + check_segmentation(np.asarray(label.array), label.affine, ct.array)
        del ct
        report, paths = build_report(
            label_final,
            final / f"{case}_report",
            image,
            warnings=[c.as_dict() for c in cautions],
            source_name=str(out_dir / label_final.name),
            image_name=str(source),
        )
        outputs.update({f"report_{k}": v for k, v in paths.items()})
        seconds["report"] = time.perf_counter() - clock
        bar.update()

        clock = time.perf_counter()
        bar.set_description(STEPS[3])
        result_path = final / f"{case}_result.json"
        outputs["result"] = result_path
        published = {role: out_dir / path.relative_to(final) for role, path in outputs.items()}
        seconds["write"] = time.perf_counter() - clock  # result.json and the moves take milliseconds
        record = _result_record(
            source,
            image if image != source and image.is_relative_to(source) else None,
            bundle_root,
            weights,
            fast,
            device,
            inference_settings,
            published,
            cautions,
            report,
            seconds,
        )
        write_json_atomic(result_path, record)
        moved = {role: _publish(path, final, out_dir) for role, path in outputs.items()}
        seconds["write"] = time.perf_counter() - clock
        bar.update()
        return SegmentResult(
            case,
            moved,
            cautions,
            report.liver_volume_ml,
            report.tumor_volume_ml,
            report.lesion_count,
            seconds,
        )
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(out_dir, created)


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (None when ``path`` exists)."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _remove_if_empty(out_dir: Path, created: Path | None) -> None:
    """Remove the folders this run created, up to ``created``, when nothing was published into them."""
    if created is None:
        return
    folder = out_dir
    while True:
        if not folder.is_dir() or any(folder.iterdir()):
            return
        folder.rmdir()
        if folder == created:
            return
        folder = folder.parent


def _publish(path: Path, final: Path, out_dir: Path) -> Path:
    """Move ``path`` (under ``final``) to the same place under ``out_dir``; folders replace folders."""
    relative = path.relative_to(final)
    top = final / relative.parts[0]
    target_top = out_dir / relative.parts[0]
    if top.exists():  # the first file of a folder moves the whole folder
        if target_top.is_dir():
            shutil.rmtree(target_top)
        os.replace(top, target_top)
    return out_dir / relative


def _bundle_settings(raw: Path) -> dict:
    """The inference settings the bundle ran with (its ``result.json``: the defaults of ``inference.json`` with
    every override applied), so that a result made with ``--tumor-weight 2`` says so."""
    from liver3d.manifest import read_result_manifest

    return read_result_manifest(raw).get("settings", {})


def _result_record(
    source, series_folder, bundle_root, weights, fast, device, inference, outputs, cautions, report, seconds
) -> dict:
    meaning = {
        "label_map": "label map on the input's grid: 0 background, 1 liver, 2 tumor (uint8 NIfTI)",
        "slicer_segmentation": "3D Slicer segmentation (.seg.nrrd) with liver and tumor segments",
        "dicom_seg": "DICOM Segmentation (binary, one segment per label, SNOMED CT codes) referencing the source series",
        "report_json": "structured report: liver volume, lesions (volume, longest axial diameter, position), "
        "tumor burden, warnings",
        "report_markdown": "the structured report as Markdown",
        "report_html": "the structured report as HTML",
        "report_figure": "axial, coronal and sagittal planes through the largest lesion (or the liver), labels drawn",
        "result": "this file",
    }
    return {
        "command": "liver3d segment",
        "input": str(source),
        # a patient's export (<patient>/<study>/<series>/): the series folder below the input that was read
        **({"series_folder": str(series_folder)} if series_folder is not None else {}),
        "bundle_root": str(bundle_root),
        "weights": weights,
        "settings": {"fast": fast, "device": device or "auto", "inference": inference},
        "outputs": {
            role: {
                "path": str(path),
                "meaning": meaning.get(role, "figure" if path.suffix == ".png" else role),
            }
            for role, path in outputs.items()
        },
        "liver_volume_ml": round(report.liver_volume_ml, 2),
        "tumor_volume_ml": round(report.tumor_volume_ml, 3),
        "lesion_count": report.lesion_count,
        "warnings": [c.as_dict() for c in cautions],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liver3d segment", description=__doc__.splitlines()[0])
    parser.add_argument(
        "input",
        help="a NIfTI file, a DICOM series folder (or a patient's export with one series folder below it) or a "
        "zip of either; or a folder of those (a cohort: each CT segmented, and cohort.csv)",
    )
    parser.add_argument("-o", "--out", required=True, help="output folder (created when missing)")
    parser.add_argument(
        "--bundle-root", help="a liver_tumor_seg bundle root with trained models/ (default: shipped)"
    )
    parser.add_argument(
        "--fast", action="store_true", help="sliding windows without overlap (about 2x faster)"
    )
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: a GPU when there is one)")
    parser.add_argument("--no-slicer", action="store_true", help="skip the .seg.nrrd file")
    parser.add_argument(
        "--dicom-seg", action="store_true", help="also write a DICOM SEG (input must be a DICOM series)"
    )
    parser.add_argument(
        "--fine-pixdim",
        type=float,
        nargs=3,
        metavar=("X", "Y", "Z"),
        help="stage-2 grid, mm (a bundle trained at another grid)",
    )
    parser.add_argument(
        "--roi-size", type=int, nargs=3, metavar=("X", "Y", "Z"), help="sliding-window size, voxels"
    )
    parser.add_argument(
        "--min-lesion-ml",
        type=float,
        help="tumor components smaller than this become liver (default: the bundle's, 1.0 mL, chosen on "
        "validation phantoms; 0 keeps every lesion)",
    )
    parser.add_argument(
        "--background-weight",
        type=float,
        help="the background probability is multiplied by this before the argmax (below 1 the liver outline "
        "grows; default: the bundle's)",
    )
    parser.add_argument(
        "--tumor-weight",
        type=float,
        help="the tumor probability is multiplied by this before the argmax (above 1 more voxels become tumor; "
        "default: the bundle's)",
    )
    parser.add_argument(
        "--fill-liver-holes",
        choices=["on", "off"],
        help="background enclosed by the predicted liver becomes liver (default: the bundle's)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    fill_holes = None if args.fill_liver_holes is None else args.fill_liver_holes == "on"
    segment_one = functools.partial(
        segment,
        bundle_root=args.bundle_root,
        fast=args.fast,
        device=args.device,
        slicer=not args.no_slicer,
        dicom_seg=args.dicom_seg,
        progress=not args.quiet,
        settings={
            k: v
            for k, v in (
                ("fine_pixdim", args.fine_pixdim),
                ("roi_size", args.roi_size),
                ("min_lesion_ml", args.min_lesion_ml),
                ("background_weight", args.background_weight),
                ("tumor_weight", args.tumor_weight),
                ("fill_liver_holes", fill_holes),
            )
            if v is not None
        },
    )
    # A stopped run (Ctrl-C, kill) still removes its private folder: nothing half-written stays behind.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        entries = cohort_inputs(args.input)
        cohort = entries.inputs
        if cohort:
            check_device(args.device)  # once, not as an error row per CT
            for path in entries.skipped:
                print(f"skipped {path}: not a NIfTI file, a zip or a folder holding a DICOM series")
            rows = segment_cohort(cohort, args.out, segment_one, on_case=_print_case)
        else:
            _print_case(None, segment_one(args.input, args.out), args.input)
    except InputError as err:  # bad input, weights, archive or output folder: one line per problem
        for line in err.lines():
            print(line, file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not cohort:
        return 0
    done = sum(row.status == "ok" for row in rows)
    print(f"cohort: {done} of {len(rows)} CTs segmented; table: {Path(args.out) / 'cohort.csv'}")
    return 0 if done == len(rows) else 1


def _print_case(row, outcome, shown: str | Path | None = None) -> None:
    """A single run's summary, or one cohort case's: its warnings and volumes, or its error line."""
    if isinstance(outcome, Exception):
        for line in outcome.lines():
            print(line, file=sys.stderr)
        return
    shown = shown if shown is not None else row.input
    for caution in outcome.cautions:
        print(f"WARNING {shown}: {caution.message}")
    total = sum(outcome.seconds.values())
    print(
        f"{outcome.case}: liver {outcome.liver_ml:.0f} mL, {outcome.lesions} lesion(s), "
        f"tumor {outcome.tumor_ml:.1f} mL ({total:.1f} s)"
    )
    if row is None:  # a single run lists its files; a cohort's table does
        for role, path in outcome.outputs.items():
            print(f"  {role}: {path}")


if __name__ == "__main__":
    sys.exit(main())
