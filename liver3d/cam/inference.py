"""CAM inference without a reference: the ``inference.json`` of the classifier bundles.

For every input volume, :class:`CamInference` asks a :class:`~liver3d.cam.CamEvaluator` for the class
probabilities and one CAM volume per structure on the input's grid, and writes (into ``output_dir``):

- ``<case>_cam_<structure>.nii.gz``: the CAM, 0-1, on the input's grid (a heatmap over the CT in 3D Slicer);
- ``<case>_slice_probabilities.csv`` (slice classifiers: one row per axial slice in RAS order, one column per
  class) or ``<case>_class_probabilities.json`` (volume classifiers: ``{class: probability}``);
- ``result.json``: the run's manifest (:mod:`liver3d.manifest`), as the bundle's ``metadata.json`` declares.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from liver3d.cam.evaluator import CamEvaluator, probability_rows
from liver3d.data.datalist import case_name
from liver3d.evaluation.report import write_csv
from liver3d.io.atomic import write_json_atomic
from liver3d.io.nifti import save_nifti
from liver3d.manifest import write_result_manifest

log = logging.getLogger(__name__)


class CamInference:
    """Probabilities and CAM volumes of every input of ``data`` (see the module docstring)."""

    def __init__(
        self,
        evaluator: CamEvaluator,
        data: Sequence[dict],
        output_dir: str | Path,
        metadata: dict | str | Path,
        settings: dict | None = None,
    ) -> None:
        self.evaluator, self.data = evaluator, list(data)
        self.output_dir, self.metadata, self.settings = Path(output_dir), metadata, settings or {}

    def run(self) -> Path:
        self.evaluator.network.eval()
        names = self.evaluator.class_names
        cases = []
        for n, entry in enumerate(self.data):
            case = entry.get("case_id") or case_name(str(entry["image"]))
            cams, affine, probs = self.evaluator.case_cam(entry)
            for structure, cam in zip(self.evaluator.structures, cams):
                save_nifti(
                    cam.astype(np.float32), affine, self.output_dir / f"{case}_cam_{structure.name}.nii.gz"
                )
            if self.evaluator.mode == "slices":
                rows = probability_rows(case, probs, "slices", names)
                write_csv(rows, self.output_dir / f"{case}_slice_probabilities.csv")
            else:
                labels = names or [f"class{c}" for c in range(probs.shape[1])]
                write_json_atomic(
                    self.output_dir / f"{case}_class_probabilities.json",
                    {name: round(float(p), 5) for name, p in zip(labels, np.asarray(probs)[0])},
                )
            cases.append({"case": case, "input": str(entry["image"])})
            log.info(
                "%s", f"[{n + 1}/{len(self.data)}] {case}: probabilities and CAM volumes {cams.shape[1:]}"
            )
        return write_result_manifest(self.output_dir, self.metadata, cases, self.settings)
