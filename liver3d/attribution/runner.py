"""Attribution maps for whole volumes, written on the input's grid: what a 3D segmentation network's mean
tumor (or liver) probability depends on, as NIfTI plus a three-plane PNG over the CT."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liver3d.attribution.maps import attribute
from liver3d.attribution.targets import MeanClassProbability
from liver3d.engines.maps import CaseLog, Collect, MapEvaluator, MapsToInputGridSaver
from liver3d.geometry import Volume
from liver3d.io.readers import read_volume
from liver3d.viz.composite import save_composite

log = logging.getLogger(__name__)

REGIONS = ("prediction", "all")
KINDS = ("segmentation", "classifier")


class AttributionRunner:
    """For each entry: preprocess, predict, attribute one number, take the map back to the input grid and write
    ``<case>_attr_<method>.nii.gz`` and ``<case>_attr_<method>.png``.

    ``kind="segmentation"``: the number is the mean probability of ``class_index`` over the predicted region
    (``region="prediction"``; all voxels when nothing is predicted, or with ``region="all"``).
    ``kind="classifier"`` (a 3D classifier): the logit of ``class_index`` (Integrated Gradients) or its softmax
    probability (occlusion). The network sees the whole preprocessed volume at once (use a coarse grid).
    """

    def __init__(
        self,
        network: nn.Module,
        data: Sequence[dict],
        preprocessing: Callable[[dict], dict],
        output_dir: str | Path,
        class_index: int = 2,
        method: str = "integrated_gradients",
        region: str = "prediction",
        steps: int = 32,
        mask_size: int = 8,
        device: str | torch.device = "cpu",
        window: str = "abdomen",
        kind: str = "segmentation",
    ) -> None:
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.network, self.data, self.preprocessing = network, list(data), preprocessing
        self.output_dir, self.class_index, self.method = Path(output_dir), class_index, method
        self.region, self.steps, self.mask_size = region, steps, mask_size
        self.device, self.window = torch.device(device), window

    def produce(self, sample: dict) -> dict:
        """The map producer (:mod:`liver3d.engines.maps`): the attribution map on the model's grid and the
        explained value (mean class probability, or the classifier's probability)."""
        x = sample["image"].as_tensor()[None].float().to(self.device)
        self.network.eval()
        if self.kind == "classifier":
            with torch.no_grad():
                value = float(torch.softmax(self.network(x), 1)[0, self.class_index])
            amap = attribute(
                self.network, x, self.method, self.class_index, self.steps, mask_size=self.mask_size
            )
        else:
            with torch.no_grad():
                predicted = self.network(x).argmax(1, keepdim=True) == self.class_index
            region = predicted.float() if self.region == "prediction" and bool(predicted.any()) else None
            target = MeanClassProbability(self.network, self.class_index, region).to(self.device)
            with torch.no_grad():
                value = float(target(x)[0, 0])
            amap = attribute(target, x, self.method, 0, self.steps, mask_size=self.mask_size, activate=False)
        return {"maps": amap, "names": [f"attr_{self.method}"], "value": value}

    def figure(self, out: dict) -> Path:
        """``<case>_attr_<method>.png``: the map over the CT in three planes through its hottest voxel."""
        amap, affine = out["input_maps"][0], out["input_affine"]
        entry, stem = out["entry"], self.output_dir / f"{out['case']}_attr_{self.method}"
        ct = read_volume(entry["image"]).as_float32()
        amap_ras = np.abs(Volume(amap, affine).to_ras().array)
        hot = np.unravel_index(int(amap_ras.argmax()), amap_ras.shape)  # the plane point, RAS index
        label = read_volume(entry["label"]).array if entry.get("label") else None
        title = f"{out['case']}: {self.method}, class {self.class_index} ({self.kind}; probability {out['value']:.3f})"
        save_composite(ct.array, label, ct.affine, f"{stem}.png", hot, amap, self.window, title=title)
        return Path(f"{stem}.png")

    def run(self) -> list[Path]:
        grid = MapsToInputGridSaver(self.preprocessing, self.output_dir)
        maps = Collect(
            lambda out: {"nifti": out["map_paths"][f"attr_{self.method}"], "png": self.figure(out)}
        )
        message = CaseLog(
            lambda out: (
                f"{out['case']}: explained value {out['value']:.4f}; "
                f"{out['map_paths'][f'attr_{self.method}']}, {maps.rows[-1]['png']}"
            )
        )
        MapEvaluator(self.produce, self.data, self.preprocessing, [grid, maps, message], self.device).run()
        return [row["nifti"] for row in maps.rows]
