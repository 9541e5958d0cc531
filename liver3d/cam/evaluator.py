"""The CAM evaluator on volumes: classifier CAMs stacked into CAM volumes on the input's grid, scored in 3D.

Slice mode (2D/2.5D classifiers): every axial slice of the preprocessed volume goes through the classifier;
each slice's CAM for the structure's class is min-max normalised and weighted by the slice's probability of
containing the structure (``gating``), then the slices are stacked back into a volume. Volume mode (3D
classifiers): one 3D CAM per volume. Either way the CAM volume is taken back through the preprocessing
(MONAI's ``Invertd``: resize, crop, orientation) to the input's grid, written as NIfTI with the input's
affine (a heatmap over the CT in 3D Slicer), and scored against the label map by
:class:`~liver3d.cam.scoring.CamScores`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liver3d.cam.gradcam import compute_cam, layer_by_name
from liver3d.cam.pseudomask import cam_to_mask
from liver3d.cam.scoring import CamScores, format_cam_table, seed_thresholds
from liver3d.data.datalist import entry_case
from liver3d.engines.maps import (
    CaseLog,
    Collect,
    MapEvaluator,
    MapsToInputGridSaver,
    TablesWriter,
)
from liver3d.geometry import Volume
from liver3d.inference.slice_sequence import smooth_liver_tumor_calls
from liver3d.io.readers import read_volume
from liver3d.transforms.slicing import VolumeToSlices, stack_slices

log = logging.getLogger(__name__)

GATINGS = ("probability", "prediction", "none")
MODES = ("slices", "volume")


@dataclass(frozen=True)
class CamStructure:
    """What a CAM is scored against: the CAM of ``class_index``, the label values of the reference, and
    the classes whose summed slice probability gates the slice CAMs (e.g. liver: liver + tumor slices)."""

    name: str
    class_index: int
    reference: tuple[int, ...]
    gate: tuple[int, ...] = ()

    @classmethod
    def parse(cls, spec: Mapping) -> CamStructure:
        return cls(
            name=str(spec["name"]),
            class_index=int(spec["class_index"]),
            reference=tuple(int(v) for v in spec["reference"]),
            gate=tuple(int(v) for v in spec.get("gate", [spec["class_index"]])),
        )


class CamEvaluator:
    """Run with :meth:`run`; see the module docstring. ``structures`` are dicts or :class:`CamStructure`.

    Args:
        network: the trained classifier (its weights already loaded).
        data: datalist entries with ``image`` and ``label``.
        preprocessing: the dictionary transform that prepares a volume for the classifier (must be
            invertible for the spatial steps: orientation, spacing, resize, crop).
        output_dir: CAM NIfTI (``cams/``), CSV tables, summary JSON/Markdown and overlay PNGs.
        mode: "slices" (2D/2.5D classifier, ``context`` slices per input) or "volume" (3D classifier).
        thresholds: pseudo-mask thresholds to sweep (default: seed 000's ``linspace(0.5, 0.99, 20)``).
        class_names: column names of ``class_probabilities.csv`` (slice index = RAS axial index in slice mode).
        region: where the CAMs may lie: a function of the preprocessed sample that gives an (X, Y, Z)
            boolean array on the classifier's grid (e.g. ``MaskOutsideLiverd(...).kept``, the liver a
            masked-liver classifier is shown); the CAMs are set to 0 outside it before they are saved,
            normalised and thresholded. None keeps the whole map.
        slice_smoothing: slices mode: each slice's split between liver (class 1) and tumor (class 2) becomes
            the mean over the slices within that many of it (:mod:`liver3d.inference.slice_sequence`) before
            the probabilities gate the CAMs and are written; 0 (default) keeps every slice's own.
    """

    def __init__(
        self,
        network: nn.Module,
        data: Sequence[dict],
        preprocessing: Callable[[dict], dict],
        output_dir: str | Path,
        structures: Sequence[Mapping | CamStructure],
        target_layer: str,
        mode: str = "slices",
        method: str = "gradcam",
        context: int = 1,
        batch_size: int = 16,
        gating: str = "probability",
        thresholds: Sequence[float] | None = None,
        opening_radius: int = 1,
        closing_radius: int = 1,
        device: str | torch.device = "cpu",
        save_cams: bool = True,
        overlays: bool = True,
        n_bootstrap: int = 2000,
        class_names: Sequence[str] | None = None,
        region: Callable[[Mapping], np.ndarray] | None = None,
        slice_smoothing: int = 0,
    ) -> None:
        if slice_smoothing < 0:
            raise ValueError(f"slice_smoothing must be 0 or more slices, got {slice_smoothing}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if slice_smoothing and mode != "slices":
            raise ValueError(
                "slice_smoothing needs slices mode: a volume classifier makes one call per volume"
            )
        if gating not in GATINGS:
            raise ValueError(f"gating must be one of {GATINGS}, got {gating!r}")
        layer_by_name(network, target_layer)  # fail before any work on a wrong layer name
        self.network, self.data, self.preprocessing = network, list(data), preprocessing
        self.output_dir = Path(output_dir)
        self.structures = [s if isinstance(s, CamStructure) else CamStructure.parse(s) for s in structures]
        self.target_layer, self.mode, self.method = target_layer, mode, method
        self.context, self.batch_size, self.gating = context, batch_size, gating
        self.thresholds = tuple(thresholds) if thresholds is not None else seed_thresholds()
        self.opening_radius, self.closing_radius = opening_radius, closing_radius
        self.device = torch.device(device)
        self.save_cams, self.overlays, self.n_bootstrap = save_cams, overlays, n_bootstrap
        self.class_names = list(class_names) if class_names is not None else None
        self.region = region
        self.slice_smoothing = int(slice_smoothing)

    # -- CAMs in the classifier's space -------------------------------------------------------------------
    def slice_cams(self, image: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(S, X, Y, Z) gated CAM volume per structure and (Z, C) slice probabilities, from (1, X, Y, Z)."""
        sliced = VolumeToSlices(context=self.context)(image)
        slices, indices = sliced["image"].float(), sliced["slice_index"].tolist()
        depth = image.shape[-1]
        probs, maps = [], {s.name: [] for s in self.structures}
        for start in range(0, len(indices), self.batch_size):
            batch = slices[start : start + self.batch_size].to(self.device)
            with torch.no_grad():
                probs.append(torch.softmax(self.network(batch), dim=1).cpu())
            for s in self.structures:
                cams = compute_cam(self.network, batch, self.target_layer, s.class_index, self.method)
                maps[s.name].extend(torch.from_numpy(c) for c in cams)
        probs = torch.cat(probs)
        if self.slice_smoothing:
            smoothed = smooth_liver_tumor_calls(probs.numpy(), self.slice_smoothing, indices)
            probs = torch.from_numpy(smoothed).to(probs.dtype)
        volumes = []
        for s in self.structures:
            weight = self._gate(probs, s)
            gated = [c * float(w) for c, w in zip(maps[s.name], weight)]
            volumes.append(stack_slices(gated, indices, depth).numpy())
        return np.stack(volumes), probs.numpy()

    def _gate(self, probs: torch.Tensor, structure: CamStructure) -> torch.Tensor:
        if self.gating == "none" or not structure.gate:
            return torch.ones(len(probs))
        if self.gating == "prediction":
            return torch.isin(probs.argmax(1), torch.tensor(structure.gate)).float()
        return probs[:, list(structure.gate)].sum(1)

    def volume_cams(self, image: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(S, X, Y, Z) CAM volume per structure and (1, C) probabilities, from a (1, X, Y, Z) volume."""
        batch = image.as_subclass(torch.Tensor)[None].float().to(self.device)
        with torch.no_grad():
            probs = torch.softmax(self.network(batch), dim=1).cpu().numpy()
        cams = [
            compute_cam(self.network, batch, self.target_layer, s.class_index, self.method)[0]
            for s in self.structures
        ]
        return np.stack(cams), probs

    # -- one case -----------------------------------------------------------------------------------------
    @property
    def map_names(self) -> list[str]:
        return [s.name for s in self.structures]

    def produce(self, sample: dict) -> dict:
        """The map producer (:mod:`liver3d.engines.maps`): CAM volumes on the model's grid and probabilities."""
        image = sample["image"]
        cams, probs = self.slice_cams(image) if self.mode == "slices" else self.volume_cams(image)
        if self.region is not None:
            inside = np.asarray(self.region(sample), dtype=bool)
            if inside.shape != cams.shape[1:]:
                raise ValueError(f"CAM region {inside.shape} differs from the CAM grid {cams.shape[1:]}")
            cams = cams * inside[None]
        return {"maps": cams, "names": self.map_names, "probs": probs}

    def case_cam(self, entry: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CAM volumes on the input grid (S, *input shape), the input affine, and the class probabilities."""
        d = self.preprocessing(dict(entry))
        produced = self.produce(d)
        out, affine = self.cam_grid_saver(None).on_input_grid(d, produced["maps"])
        return out, affine, produced["probs"]

    def cam_grid_saver(self, output_dir: str | Path | None, save: bool = True) -> MapsToInputGridSaver:
        """The handler that takes CAMs back to the input grid, clipped to [0, 1], and writes them as
        ``output_dir/<case>_cam_<structure>.nii.gz`` (unless ``output_dir`` is None or not ``save``)."""
        return MapsToInputGridSaver(
            self.preprocessing, output_dir, "{case}_cam_{name}.nii.gz", save, (0.0, 1.0)
        )

    def map_evaluator(self, data: Sequence[dict], handlers: Sequence) -> MapEvaluator:
        """This evaluator's CAMs under MONAI's evaluator; ``handlers`` start with a :meth:`cam_grid_saver`."""
        self.network.eval()
        return MapEvaluator(self.produce, data, self.preprocessing, handlers, self.device)

    def run(self) -> dict:
        scores = CamScores(self.thresholds)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        grid = self.cam_grid_saver(self.output_dir / "cams", self.save_cams)
        probabilities = Collect(
            lambda out: probability_rows(out["case"], out["probs"], self.mode, self.class_names)
        )

        def score(out: dict) -> dict:
            label_ras = read_volume(out["entry"]["label"]).to_ras().array
            for s, cam in zip(self.structures, out["input_maps"]):
                cam_ras = Volume(cam, out["input_affine"]).to_ras().array
                reference = np.isin(label_ras, s.reference)
                scores.score_case(
                    out["case"], s.name, cam_ras, reference, self.opening_radius, self.closing_radius
                )
            return {"case": out["case"], "paths": out["map_paths"]}

        cases = Collect(score)
        summary: list[dict] = []

        def tables(engine) -> dict:
            summary.extend(scores.summary(self.n_bootstrap))
            return {
                "cam_per_case.csv": scores.per_case_rows(),
                "cam_per_slice.csv": scores.per_slice_rows(),
                "cam_sweep.csv": scores.sweep_rows(),
                "class_probabilities.csv": probabilities.rows,
                "cam_summary.json": {"settings": self.settings(), "summary": summary},
                "cam_summary.md": format_cam_table(summary),
            }

        handlers = [
            grid,
            probabilities,
            cases,
            CaseLog(lambda out: f"{out['case']}: CAM volumes {out['input_maps'].shape[1:]}"),
            TablesWriter(self.output_dir, tables),
        ]
        self.map_evaluator(self.data, handlers).run()
        if self.overlays and self.save_cams:
            cam_paths: dict[str, dict[str, Path]] = {}
            for row in cases.rows:
                for name, path in row["paths"].items():
                    cam_paths.setdefault(name, {})[row["case"]] = path
            self._overlays(scores, cam_paths)
        log.info("\n%s", format_cam_table(summary))
        log.info("%s", f"CAM volumes, tables and overlays: {self.output_dir}")
        return {"summary": summary, "scores": scores}

    def settings(self) -> dict:
        """What produced the CAMs and their pseudo-masks (``cam_summary.json``'s ``settings``)."""
        return {
            "mode": self.mode,
            "method": self.method,
            "target_layer": self.target_layer,
            "gating": self.gating,
            "thresholds": list(self.thresholds),
            "opening_radius": self.opening_radius,
            "closing_radius": self.closing_radius,
            "region": self._region_setting(),
            "slice_smoothing": self.slice_smoothing,
            "structures": [s.__dict__ for s in self.structures],
        }

    def _region_setting(self) -> dict | None:
        if self.region is None:
            return None
        owner = getattr(self.region, "__self__", None)
        return {
            "function": getattr(self.region, "__qualname__", type(self.region).__name__),
            "margin_mm": getattr(owner, "margin_mm", None),
        }

    def _overlays(self, scores: CamScores, cam_paths: dict[str, dict[str, Path]]) -> None:
        from liver3d.viz.cam import save_cam_overlays

        entries = {entry_case(e): e for e in self.data}
        for s in self.structures:
            ranked = scores.ranked_cases(s.name)
            if not ranked:
                continue
            k = scores.common_threshold("volume", s.name)
            picks = [("best", *ranked[0]), ("worst", *ranked[-1])]
            save_cam_overlays(
                [
                    (
                        f"{which}: {case} IoU {value:.3f}",
                        entries[case]["image"],
                        entries[case]["label"],
                        cam_paths[s.name][case],
                    )
                    for which, case, value in picks
                ],
                s.reference,
                self.thresholds[k],
                self.output_dir / f"cam_best_worst_{s.name}.png",
                partial(
                    cam_to_mask,
                    threshold=self.thresholds[k],
                    opening_radius=self.opening_radius,
                    closing_radius=self.closing_radius,
                ),
            )


def probability_rows(
    case: str, probs: np.ndarray, mode: str, class_names: Sequence[str] | None
) -> list[dict]:
    """``class_probabilities.csv`` rows of one case: one per slice (slice mode, RAS order) or one for the volume."""
    names = class_names or [f"class{c}" for c in range(probs.shape[1])]
    rows = []
    for i, p in enumerate(probs):
        row = {"case_id": case, "slice_index": i if mode == "slices" else ""}
        row.update({f"p_{name}": round(float(v), 5) for name, v in zip(names, p)})
        rows.append(row)
    return rows
