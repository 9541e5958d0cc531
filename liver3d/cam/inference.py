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
from liver3d.engines.maps import CaseLog, Collect, write_tables
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

    def probability_tables(self, out: dict) -> dict:
        """This case's probability file: per slice (slice classifiers) or per volume."""
        names, probs = self.evaluator.class_names, out["probs"]
        if self.evaluator.mode == "slices":
            return {
                f"{out['case']}_slice_probabilities.csv": probability_rows(
                    out["case"], probs, "slices", names
                )
            }
        labels = names or [f"class{c}" for c in range(probs.shape[1])]
        return {
            f"{out['case']}_class_probabilities.json": {
                name: round(float(p), 5) for name, p in zip(labels, np.asarray(probs)[0])
            }
        }

    def run(self) -> Path:
        grid = self.evaluator.cam_grid_saver(self.output_dir)
        probabilities = Collect(lambda out: write_tables(self.output_dir, self.probability_tables(out)))
        cases = Collect(lambda out: {"case": out["case"], "input": str(out["entry"]["image"])})
        message = CaseLog(
            lambda out: f"{out['case']}: probabilities and CAM volumes {out['input_maps'].shape[1:]}"
        )
        self.evaluator.map_evaluator(self.data, [grid, probabilities, cases, message]).run()
        return write_result_manifest(self.output_dir, self.metadata, cases.rows, self.settings)
