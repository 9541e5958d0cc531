"""The inference contract: what a bundle's ``inference.json`` writes, declared in its ``metadata.json`` and
listed after each run in ``<output_dir>/result.json``.

A bundle declares (``metadata.json``, key ``liver3d_inference``)::

    {"configs": ["inference.json"], "accepts": "volume",
     "result_files": {"label_map": {"pattern": "{case}_seg.nii.gz", "kind": "label_map",
                                    "meaning": "0 background, 1 liver, 2 tumor, on the input's grid"}, ...}}

``kind`` says how to read a file (one of ``KINDS``); ``pattern`` is relative to the run's output folder,
``{case}`` the input's case name. After a run, :func:`write_result_manifest` (or the :class:`ResultManifest`
handler on a MONAI evaluator) writes ``result.json``: the bundle, its version, when and on which inputs it ran,
and per case every declared file that exists, with its kind and meaning. Readers (the viewer, scripts) use
:func:`read_result_manifest` and never guess file names.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from liver3d.errors import InputError

log = logging.getLogger(__name__)

KINDS = {
    "label_map": "integer label map on the input's grid (NIfTI)",
    "probabilities": "per-class probability volume on the input's grid (NIfTI, last axis the classes)",
    "slicer_segmentation": "3D Slicer segmentation (.seg.nrrd)",
    "cam_volume": "class activation map on the input's grid, 0-1 (NIfTI)",
    "cam_image": "2D class activation map, 0-1, at the image's size (one-slice NIfTI)",
    "error_map": "reconstruction error map on the input's grid (NIfTI)",
    "slice_probabilities": "CSV: one row per axial slice, one probability column per class",
    "class_probabilities": "JSON: {class name: probability} for the whole input",
    "cam_regions": "JSON: per image the predicted class, its probabilities and the CAM's hot-region boxes",
    "table": "CSV or Markdown table",
    "figure": "PNG figure",
    "report": "JSON or Markdown report",
}
MANIFEST = "result.json"


class ManifestError(InputError):
    """A bundle declaration or a ``result.json`` that cannot be used; names the file."""


@dataclass(frozen=True)
class ResultFile:
    role: str
    pattern: str
    kind: str
    meaning: str
    structure: str | None = None  # the class or structure a map is of (CAM volumes)


def declared_files(metadata: dict | str | Path) -> dict[str, ResultFile]:
    """The ``result_files`` a bundle's metadata declares, checked (known kinds, a ``pattern`` each)."""
    source = str(metadata) if not isinstance(metadata, dict) else "metadata"
    if not isinstance(metadata, dict):
        metadata = json.loads(Path(metadata).read_text(encoding="utf-8"))
    spec = metadata.get("liver3d_inference", {}).get("result_files")
    if not isinstance(spec, dict) or not spec:
        raise ManifestError(source, "declares no liver3d_inference.result_files")
    files = {}
    for role, item in spec.items():
        if item.get("kind") not in KINDS or not item.get("pattern"):
            raise ManifestError(
                source, f"result file {role!r} needs a 'pattern' and a 'kind' from {sorted(KINDS)}"
            )
        files[role] = ResultFile(
            role,
            item["pattern"],
            item["kind"],
            item.get("meaning", KINDS[item["kind"]]),
            item.get("structure"),
        )
    return files


def write_result_manifest(
    output_dir: str | Path, metadata: dict | str | Path, cases: list[dict], settings: dict | None = None
) -> Path:
    """Write ``output_dir/result.json`` for ``cases`` (``[{"case": name, "input": path}, ...]``): every
    declared file that exists, per case (patterns with ``{case}``) and for the run (patterns without)."""
    from liver3d.io.atomic import write_json_atomic

    output_dir = Path(output_dir)
    if not isinstance(metadata, dict):
        metadata = json.loads(Path(metadata).read_text(encoding="utf-8"))
    files = declared_files(metadata)

    def present(case: str | None) -> dict:
        found = {}
        for f in files.values():
            if ("{case}" in f.pattern) != (case is not None):
                continue
            path = output_dir / f.pattern.format(case=case)
            if path.is_file():
                found[f.role] = {"path": str(path), "kind": f.kind, "meaning": f.meaning}
                if f.structure:
                    found[f.role]["structure"] = f.structure
        return found

    record = {
        "bundle": metadata.get("name"),
        "version": metadata.get("version"),
        "configs": metadata.get("liver3d_inference", {}).get("configs", ["inference.json"]),
        "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": settings or {},
        "cases": [
            {"case": c["case"], "input": str(c.get("input", "")), "outputs": present(c["case"])}
            for c in cases
        ],
        "outputs": present(None),
    }
    path = write_json_atomic(output_dir / MANIFEST, record)
    log.info("%s", f"result manifest: {path}")
    return path


def read_result_manifest(path: str | Path) -> dict:
    """A ``result.json`` (or the folder holding one), checked: cases with outputs of known kinds whose files
    exist."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise ManifestError(path, "result manifest not found: the bundle did not finish")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ManifestError(path, f"not valid JSON ({err})") from err
    problems = []
    for case in record.get("cases", []):
        for role, item in case.get("outputs", {}).items():
            if item.get("kind") not in KINDS:
                problems.append(
                    (str(path), f"{case.get('case')}: {role} has unknown kind {item.get('kind')!r}")
                )
            elif not Path(item["path"]).is_file():
                problems.append((str(path), f"{case.get('case')}: {role} file missing: {item['path']}"))
    if problems:
        raise ManifestError(problems[0][0], problems[0][1], problems)
    return record


class ResultManifest:
    """Ignite handler: collects each batch's case (from the image's ``filename_or_obj``) and writes
    ``result.json`` when the evaluator completes (attach it as one of ``val_handlers``). ``metadata`` is the
    bundle's metadata (``"@_meta_"`` in a bundle config) or its file."""

    def __init__(
        self,
        output_dir: str | Path,
        metadata: dict | str | Path,
        settings: dict | None = None,
        image_key: str = "image",
    ) -> None:
        self.output_dir, self.metadata, self.image_key = Path(output_dir), metadata, image_key
        self.settings = {k: str(v) if isinstance(v, Path) else v for k, v in (settings or {}).items()}
        self.cases: list[dict] = []

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.STARTED, lambda _: self.cases.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.COMPLETED, self._write)

    def _collect(self, engine) -> None:
        from liver3d.data.datalist import case_name

        batch = engine.state.batch
        items = batch if isinstance(batch, list) else [batch]
        for item in items:
            image = item[self.image_key] if isinstance(item, dict) else None
            names = getattr(image, "meta", {}).get("filename_or_obj") if image is not None else None
            for name in [names] if isinstance(names, str) else list(names or []):
                self.cases.append({"case": case_name(str(name)), "input": str(name)})

    def _write(self, engine) -> None:
        write_result_manifest(self.output_dir, self.metadata, self.cases, self.settings)
