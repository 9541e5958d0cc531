"""The Streamlit page of the liver3d viewer (started by ``python -m liver3d.app``; see its ``--help``).

Settings come from the environment the launcher sets: ``LIVER3D_APP_REGISTRY`` (model registry files,
``os.pathsep``-separated), ``LIVER3D_APP_MAX_UPLOAD_MB`` and ``LIVER3D_APP_WORKDIR`` (where each browser
session gets a private folder, removed when the upload is replaced and when the server stops).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import traceback
from pathlib import Path

import streamlit as st

from liver3d.app.registry import ModelEntry, RegistryError, load_registry, shipped_models
from liver3d.app.render import (
    PLANES,
    compose_slice,
    draw_boxes,
    largest_lesion_voxel,
    plane_count,
    render_volume_slice,
    to_display,
    window_to_grey,
)
from liver3d.app.runners import RunError, RunResult, download_name, read_volume_ras, run_model
from liver3d.app.uploads import ACCEPTED_SUFFIXES, StagedInput, UploadError, display_name, stage_upload
from liver3d.app.workspace import new_session_dir
from liver3d.io.images2d import read_image_2d
from liver3d.io.readers import VolumeError
from liver3d.windows import window_presets

DEFAULT_MAX_UPLOAD_MB = 512


def settings() -> dict:
    registries = [p for p in os.environ.get("LIVER3D_APP_REGISTRY", "").split(os.pathsep) if p]
    return {
        "registries": registries,
        "max_upload_mb": int(os.environ.get("LIVER3D_APP_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)),
        "workdir": os.environ.get("LIVER3D_APP_WORKDIR")
        or os.path.join(tempfile.gettempdir(), "liver3d-app"),
    }


@st.cache_resource
def models(registries: tuple[str, ...]) -> tuple[list[ModelEntry], list[str]]:
    """Every registered model, and one message per registry that could not be read."""
    entries, problems = shipped_models(), []
    for path in registries:
        try:
            entries += load_registry(path)
        except RegistryError as err:
            problems.append(str(err))
    return entries, problems


def session_dir(root: str) -> Path:
    """This browser session's private folder (created on first use)."""
    if "session_dir" not in st.session_state or not Path(st.session_state.session_dir).is_dir():
        st.session_state.session_dir = str(new_session_dir(root))
    return Path(st.session_state.session_dir)


def forget_upload_files() -> None:
    if "session_dir" in st.session_state:
        shutil.rmtree(st.session_state.session_dir, ignore_errors=True)
        st.session_state.pop("session_dir")


def forget_upload() -> None:
    """Drop the current upload, its results and their files."""
    for key in ("staged", "display", "results", "upload_error", "run_error"):
        st.session_state.pop(key, None)
    forget_upload_files()


def accept_upload(upload, cfg: dict) -> None:
    """Stage and check a new upload; keep it (and its display array) or an error message."""
    forget_upload()
    folder = session_dir(cfg["workdir"])
    try:
        staged = stage_upload(upload.name, upload.getvalue(), folder / "input", cfg["max_upload_mb"] * 2**20)
        if staged.kind == "volume":
            volume = read_volume_ras(staged.path)
            st.session_state.display = {"volume": volume.array, "spacing": volume.spacing}
        else:
            st.session_state.display = {"image": read_image_2d(staged.path, 1)[0]}
    except (UploadError, VolumeError) as err:
        # a VolumeError names the server's copy: show the user's file name instead
        message = f"{display_name(upload.name)}: {err.problem}" if isinstance(err, VolumeError) else str(err)
        st.session_state.upload_error = message
        forget_upload_files()
        return
    st.session_state.staged = staged
    st.session_state.results = {}


def sidebar(cfg: dict, entries: list[ModelEntry], problems: list[str]) -> tuple[ModelEntry | None, bool]:
    with st.sidebar:
        st.header("1. Upload")
        upload = st.file_uploader(
            f"CT volume (.nii, .nii.gz), zipped DICOM series (.zip) or 2D image; up to {cfg['max_upload_mb']} MB",
            key="upload",
        )
        token = upload.file_id if upload is not None else None
        if token != st.session_state.get("upload_token"):
            st.session_state.upload_token = token
            if upload is None:
                forget_upload()
            else:
                with st.spinner("checking the file"):
                    accept_upload(upload, cfg)
        st.header("2. Model")
        for problem in problems:
            st.warning(problem)
        if not entries:
            st.info(
                "No models registered: start the app with --models FILE (the demo writes demo_out/app_models.json)."
            )
            return None, False
        names = [e.name for e in entries]
        choice = st.selectbox("bundle and checkpoint", names, key="model_name")
        entry = entries[names.index(choice)]
        st.caption(f"{entry.bundle}: {entry.title}")
        if entry.missing:
            st.warning(
                f"checkpoint missing: {', '.join(p.name for p in entry.missing)} (train the model first)"
            )
        staged: StagedInput | None = st.session_state.get("staged")
        ready = staged is not None and entry.accepts == staged.kind
        if staged is not None and not ready:
            st.caption(f"this model takes {'a CT volume' if entry.accepts == 'volume' else 'a 2D image'}")
        run = st.button("Run", type="primary", disabled=not ready, key="run")
        return entry, run


def run_selected(entry: ModelEntry, cfg: dict) -> None:
    staged: StagedInput = st.session_state.staged
    bar = st.progress(0.0, text=f"{entry.name}: starting")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=f"{entry.name}: {message}")

    folder = "".join(c if c.isalnum() else "_" for c in entry.name)  # a registry name, never the client's
    out = session_dir(cfg["workdir"]) / "runs" / folder
    shutil.rmtree(out, ignore_errors=True)
    try:
        result = run_model(entry, staged, out, progress, st.session_state.results)
    except RunError as err:
        st.session_state.run_error = str(err).replace(str(staged.path), staged.display_name)
        bar.empty()
        return
    except Exception as err:  # the full traceback goes to the server's log, one line to the user
        traceback.print_exc()
        st.session_state.run_error = (
            f"{entry.name} failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        )
        bar.empty()
        return
    st.session_state.pop("run_error", None)
    st.session_state.results[entry.name] = result
    if result.cams:  # show a new CAM straight away, even if the toggle was off while there was none
        st.session_state["show_cam"] = st.session_state["show_cam2d"] = True
    if result.label is not None:
        st.session_state["show_label"] = True


def go_to(voxel: tuple[int, int, int]) -> None:
    """Put every plane's slider through ``voxel`` (RAS indices) and show the axial plane."""
    x, y, z = voxel
    st.session_state.update({"plane": "axial", "slice_axial": z, "slice_coronal": y, "slice_sagittal": x})


def viewer_volume(display: dict, results: dict[str, RunResult]) -> None:
    volume, spacing = display["volume"], display["spacing"]
    # what each result holds decides where it shows: the last label map, slice probabilities, every map
    seg = next((r for r in reversed(list(results.values())) if r.label is not None), None)
    cls = next((r for r in reversed(list(results.values())) if r.slice_probabilities is not None), None)
    # each map scaled to its own maximum for display (slice CAMs are weighted by slice probability)
    cam_sources = {
        f"{model}: {name}": cam / max(float(cam.max()), 1e-6)
        for model, result in results.items()
        for name, cam in result.cams.items()
        if cam.ndim == 3
    }
    controls, view = st.columns([1, 2])
    with controls:
        plane = st.radio("plane", PLANES, horizontal=True, key="plane")
        count = plane_count(volume.shape, plane)
        index = st.slider(f"{plane} slice", 0, count - 1, count // 2, key=f"slice_{plane}")
        lesion = largest_lesion_voxel(seg.label) if seg is not None else None
        if lesion is not None:
            st.button("go to the largest lesion", on_click=go_to, args=(lesion,), key="go_lesion")
        presets = list(window_presets())
        window = st.selectbox("window", presets, index=presets.index("abdomen"), key="window")
        show_label = st.toggle("liver / tumor overlay", value=True, key="show_label", disabled=seg is None)
        cam_names = list(cam_sources)
        show_cam = st.toggle("CAM heatmap", value=bool(cam_names), key="show_cam", disabled=not cam_names)
        cam_name = st.selectbox("CAM of", cam_names, key="cam_name") if cam_names else None
        show_contours = st.toggle("contours", value=True, key="show_contours")
    label = seg.label if seg is not None else None
    cam = cam_sources[cam_name] if cam_name else None
    image = render_volume_slice(
        volume,
        spacing,
        plane,
        index,
        window,
        label,
        cam,
        show_label=show_label,
        show_cam=show_cam,
        show_contours=show_contours,
    )
    with view:
        st.image(image, caption=f"{plane} {index + 1}/{count}, window {window}", width="content")
        if cls is not None and plane == "axial" and cls.slice_probabilities is not None:
            probs = cls.slice_probabilities[min(index, len(cls.slice_probabilities) - 1)]
            st.caption(
                "slice probabilities: " + ", ".join(f"{n} {p:.2f}" for n, p in zip(cls.class_names, probs))
            )


def viewer_image(display: dict, results: dict[str, RunResult]) -> None:
    result = next((r for r in reversed(list(results.values())) if r.cams or r.regions), None)
    controls, view = st.columns([1, 2])
    with controls:
        show_cam = st.toggle("CAM heatmap", value=True, key="show_cam2d", disabled=result is None)
        show_contours = st.toggle(
            "contours and boxes", value=True, key="show_contours2d", disabled=result is None
        )
        layers = list(result.cams) if result else []
        layer = st.selectbox("CAM layer", layers, index=len(layers) - 1, key="cam_layer") if layers else None
    image = display["image"]
    grey = window_to_grey(image, None)  # a 2D image: its own min..max
    cam = result.cams[layer] if result is not None and layer else None
    rgb = compose_slice(grey, None, cam, show_cam=show_cam, show_contours=show_contours)
    if result is not None and show_contours:
        rgb = draw_boxes(rgb, [r["bbox_xyxy"] for r in result.regions])
    with view:
        st.image(to_display(rgb, (1.0, 1.0)), caption="uploaded image", width="content")


def results_panel(results: dict[str, RunResult], staged: StagedInput) -> None:
    for number, result in enumerate(results.values()):
        with st.container(border=True, key=f"result_{number}"):
            st.subheader(f"{result.model} ({result.seconds:.1f} s)")
            if result.probabilities:
                st.markdown(
                    "**Class probabilities**"
                    + (" (highest over slices)" if result.slice_probabilities is not None else "")
                )
                st.bar_chart({"probability": result.probabilities}, horizontal=True, height=160)
            st.markdown("**Structured report**")
            st.markdown(
                re.sub(r"^(#{1,3}) ", r"###\1 ", result.report_markdown, flags=re.M)
            )  # smaller headings
            cols = st.columns(max(1, len(result.files)))
            for col, (title, path) in zip(cols, result.files.items()):
                with col:
                    st.download_button(
                        title,
                        data=Path(path).read_bytes(),
                        file_name=download_name(path, staged),
                        key=f"download_{number}_{title}",
                    )


def main() -> None:
    st.set_page_config(page_title="liver3d viewer", layout="wide")
    st.title("liver3d viewer")
    cfg = settings()
    entries, problems = models(tuple(cfg["registries"]))
    entry, run = sidebar(cfg, entries, problems)
    if st.session_state.get("upload_error"):
        st.error(st.session_state.upload_error)
    staged: StagedInput | None = st.session_state.get("staged")
    if staged is None:
        st.info(f"Upload a file in the sidebar ({', '.join(ACCEPTED_SUFFIXES)}).")
        return
    shape = " x ".join(str(s) for s in staged.shape)
    spacing = " x ".join(f"{s:.2f}" for s in staged.spacing)
    st.caption(
        f"{staged.display_name}: {shape} voxels, {spacing} mm"
        if staged.kind == "volume"
        else f"{staged.display_name}: {shape} pixels"
    )
    if run and entry is not None:
        run_selected(entry, cfg)
    if st.session_state.get("run_error"):
        st.error(st.session_state.run_error)
    results = st.session_state.get("results", {})
    if staged.kind == "volume":
        viewer_volume(st.session_state.display, results)
    else:
        viewer_image(st.session_state.display, results)
    results_panel(results, staged)


main()
