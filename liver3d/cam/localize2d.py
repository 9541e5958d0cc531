"""CAM localization for 2D classifiers: multi-layer Grad-CAM panels, hot-region contours and boxes, as JSON.

For every image of a dataset: the class probabilities, Grad-CAM of the target class (the predicted one, as
seed 004, or the labelled one) at each of ``target_layers`` (seed 002's multi-layer view), and the hot
regions of ``box_layer``'s CAM (:func:`~liver3d.cam.regions.hot_regions`) in the original image's pixel
coordinates. Where the datalist gives a lesion mask, the localization is scored: IoU of the best box with
the lesion's box, whether the hottest pixel lies in the lesion (pointing game), and the IoU of the
thresholded CAM with the mask.

Writes to ``output_dir``: ``cam_regions.json`` (one record per image), ``cam_localization.json`` and
``.md`` (scores per target class) and ``figures/`` (layer panels and box views of the first
``max_figures`` images per class); with ``metadata`` (the bundle's), ``result.json`` (:mod:`liver3d.manifest`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from skimage.transform import resize

from liver3d.cam.gradcam import compute_cams, layer_by_name
from liver3d.cam.pseudomask import iou
from liver3d.cam.regions import box_iou, hot_regions, mask_box
from liver3d.engines.maps import write_tables
from liver3d.io.images2d import read_image_2d

log = logging.getLogger(__name__)

TARGETS = ("predicted", "label")


def image_case(path: str | Path) -> str:
    """A 2D image's case name: its file name without suffixes (``chest.png`` -> ``chest``)."""
    return Path(path).name.split(".")[0]


class CamLocalizer2D:
    """Grad-CAM regions of a 2D classifier over an :class:`~liver3d.data.ImageDataset`.

    Args:
        target_layers: layers to show side by side (e.g. ``["layer2", "layer3", "layer4"]``).
        box_layer: the layer whose CAM gives the regions (default: the last of ``target_layers``).
        threshold: CAM level (0-1) of a hot region.
        target: explain the ``"predicted"`` class or the ``"label"``.
        classes: class names whose images get figures (default: all); records cover every image.
        max_figures: figures per class.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        dataset,
        output_dir: str | Path,
        class_names: Sequence[str],
        target_layers: Sequence[str],
        box_layer: str | None = None,
        method: str = "gradcam",
        threshold: float = 0.5,
        min_area: int = 4,
        target: str = "predicted",
        classes: Sequence[str] | None = None,
        max_figures: int = 4,
        batch_size: int = 16,
        device: str | torch.device = "cpu",
        metadata: dict | str | Path | None = None,
        settings: dict | None = None,
        save_cams: bool = False,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.layers = list(target_layers)
        if not self.layers:
            raise ValueError("target_layers is empty")
        self.box_layer = box_layer or self.layers[-1]
        if self.box_layer not in self.layers:
            self.layers.append(self.box_layer)
        for layer in self.layers:
            layer_by_name(network, layer)  # a clear error for a wrong name, before any work
        unknown = sorted(set(classes or []) - set(class_names))
        if unknown:
            raise ValueError(f"classes {unknown} are not among {list(class_names)}")
        self.network, self.dataset = network, dataset
        self.output_dir = Path(output_dir)
        self.class_names = list(class_names)
        self.method, self.threshold, self.min_area, self.target = method, threshold, min_area, target
        self.figure_classes = set(classes or class_names)
        self.max_figures, self.batch_size, self.device = max_figures, batch_size, torch.device(device)
        self.metadata, self.settings = metadata, settings or {}  # with metadata: result.json after run
        self.save_cams = save_cams  # <case>_cam.nii.gz: the box layer's CAM at the image's size

    def run(self) -> dict:
        self.network.to(self.device).eval()
        records, figures = [], defaultdict(int)
        for start in range(0, len(self.dataset), self.batch_size):
            indices = range(start, min(start + self.batch_size, len(self.dataset)))
            images = torch.stack([self.dataset.images[i] for i in indices]).to(self.device)
            with torch.no_grad():
                probs = torch.softmax(self.network(images).float(), 1).cpu().numpy()
            labels = [int(self.dataset.entries[i]["label"]) for i in indices]
            targets = probs.argmax(1).tolist() if self.target == "predicted" else labels
            cams = compute_cams(self.network, images, self.layers, targets, self.method)
            for b, i in enumerate(indices):
                record = self._record(i, probs[b], targets[b], {k: v[b] for k, v in cams.items()})
                name = self.class_names[targets[b]]
                if name in self.figure_classes and figures[name] < self.max_figures:
                    figures[name] += 1
                    record["figures"] = self._figures(i, record, {k: v[b] for k, v in cams.items()})
                if self.save_cams:
                    self._save_cam(i, cams[self.box_layer][b])
                records.append(record)
        summary = summarize(records, self.class_names)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        table = format_localization_table(summary, self.box_layer, self.threshold)
        write_tables(
            self.output_dir,
            {"cam_regions.json": records, "cam_localization.json": summary, "cam_localization.md": table},
        )
        log.info("\n%s", table)
        log.info("%s", f"CAM regions, scores and figures: {self.output_dir}")
        if self.metadata is not None:
            from liver3d.manifest import write_result_manifest

            cases = [{"case": image_case(e["image"]), "input": e["image"]} for e in self.dataset.entries]
            write_result_manifest(self.output_dir, self.metadata, cases, self.settings)
        return summary

    def _save_cam(self, index: int, cam: np.ndarray) -> Path:
        """The CAM resized to the original image, as a one-slice NIfTI in :func:`read_image_2d`'s convention
        (array (W, H, 1), ``flipud(array.T)`` gives the image's rows and columns back)."""
        from liver3d.io.nifti import save_nifti

        height, width = self.dataset.original_sizes[index]
        full = resize(cam, (height, width), order=1, preserve_range=True).astype(np.float32)
        name = f"{image_case(self.dataset.entries[index]['image'])}_cam.nii.gz"
        return save_nifti(np.flipud(full).T[..., None], np.eye(4), self.output_dir / name)

    def _record(self, index: int, probs: np.ndarray, target: int, cams: dict[str, np.ndarray]) -> dict:
        entry = self.dataset.entries[index]
        height, width = self.dataset.original_sizes[index]
        cam = cams[self.box_layer]
        scale = (height / cam.shape[0], width / cam.shape[1])
        regions = hot_regions(cam, self.threshold, self.min_area, scale=scale)
        record = {
            "image": entry["image"],
            "patient_id": entry.get("patient_id"),
            "label": _class_name(self.class_names, entry.get("label")),
            "predicted": self.class_names[int(probs.argmax())],
            "probabilities": {n: round(float(p), 5) for n, p in zip(self.class_names, probs)},
            "cam_class": self.class_names[target],
            "cam_layer": self.box_layer,
            "threshold": self.threshold,
            "image_size_hw": [int(height), int(width)],
            "regions": regions,
        }
        if entry.get("mask"):
            lesion = read_image_2d(entry["mask"], 1)[0] > 0
            box = mask_box(lesion)
            record["lesion_box_xyxy"] = box
            if box is not None:
                full_cam = resize(cam, lesion.shape, order=1, preserve_range=True)
                record["box_iou"] = max((box_iou(r["bbox_xyxy"], box) for r in regions), default=0.0)
                peak = np.unravel_index(int(np.argmax(full_cam)), full_cam.shape)
                record["pointing_hit"] = bool(lesion[peak])
                record["cam_mask_iou"] = iou(full_cam >= self.threshold, lesion)
        return record

    def _figures(self, index: int, record: dict, cams: dict[str, np.ndarray]) -> list[str]:
        from liver3d.viz.cam import plot_cam_layers, plot_cam_regions

        image = read_image_2d(self.dataset.entries[index]["image"], 1)[0]
        full = {k: resize(v, image.shape, order=1, preserve_range=True) for k, v in cams.items()}
        stem = f"{index:04d}_{Path(record['image']).name.split('.')[0]}"
        title = f"{record['label']} -> {record['predicted']} (CAM of {record['cam_class']})"
        layers_png = plot_cam_layers(
            image,
            {k: full[k] for k in self.layers},
            self.output_dir / "figures" / f"{stem}_layers.png",
            title,
        )
        boxes_png = plot_cam_regions(
            image,
            full[self.box_layer],
            record["regions"],
            self.output_dir / "figures" / f"{stem}_boxes.png",
            title,
            record.get("lesion_box_xyxy"),
        )
        return [str(layers_png), str(boxes_png)]


def _class_name(class_names: Sequence[str], label) -> str | None:
    """The class name of a label index; None for an image without a label (index -1 or missing)."""
    if label is None or int(label) < 0:
        return None
    return class_names[int(label)]


def summarize(records: Sequence[dict], class_names: Sequence[str]) -> dict:
    """Per CAM class: images, images with regions, and on images with a lesion mask the mean box IoU,
    pointing-game accuracy and CAM-mask IoU."""
    summary = {}
    for name in list(class_names) + ["all"]:
        rows = [r for r in records if name in ("all", r["cam_class"])]
        scored = [r for r in rows if "box_iou" in r]
        summary[name] = {
            "images": len(rows),
            "with_regions": sum(bool(r["regions"]) for r in rows),
            "with_lesion_mask": len(scored),
            "box_iou": _mean(r["box_iou"] for r in scored),
            "pointing_accuracy": _mean(float(r["pointing_hit"]) for r in scored),
            "cam_mask_iou": _mean(r["cam_mask_iou"] for r in scored),
        }
    return summary


def format_localization_table(summary: dict, layer: str, threshold: float) -> str:
    lines = [
        f"Grad-CAM hot regions of {layer} at {threshold:.2f}; scores on images with a lesion mask",
        "",
        "| CAM class | images | with regions | with lesion mask | box IoU | pointing game | CAM-mask IoU |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in summary.items():
        if not row["images"]:
            continue
        lines.append(
            f"| {name} | {row['images']} | {row['with_regions']} | {row['with_lesion_mask']} | "
            f"{_fmt(row['box_iou'])} | {_fmt(row['pointing_accuracy'])} | {_fmt(row['cam_mask_iou'])} |"
        )
    return "\n".join(lines)


def _mean(values) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
