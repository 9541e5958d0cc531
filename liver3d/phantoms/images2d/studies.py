"""The three 2D studies' phantom generators, and writing a labelled image set to disk.

A set is ``<out>/<class>/<patient>_<k>.png`` (8-bit grey), lesion masks under ``<out>/masks/`` for the
images that have a lesion, and ``<out>/datalist.csv`` (image, label, patient_id, mask) that
:func:`liver3d.data.image_datalist` reads. Every patient belongs to one class and has several images
(other positioning, exposure, noise, lesion extent), so an image-level split would leak patients.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liver3d.io.atomic import atomic_path
from liver3d.phantoms.images2d import liver_ct, multiorgan, xray
from liver3d.phantoms.images2d.shapes import Canvas, acquisition, move


@dataclass(frozen=True)
class Study:
    name: str
    classes: tuple[str, ...]
    sample_patient: Callable[[np.random.Generator, int], dict]
    render: Callable[[dict, np.random.Generator, Canvas], tuple[np.ndarray, np.ndarray | None]]
    size: int
    noise: float
    description: str


STUDIES = {
    "xray_pneumonia": Study(
        "xray_pneumonia",
        xray.CLASSES,
        xray.sample_patient,
        xray.render,
        256,
        0.015,
        "frontal chest radiographs, normal vs pneumonia (seed 002)",
    ),
    "liver_disease_4class": Study(
        "liver_disease_4class",
        liver_ct.CLASSES,
        liver_ct.sample_patient,
        liver_ct.render,
        224,
        0.025,
        "axial liver CT slices: benign, malignant, cirrhosis, normal (seed 003)",
    ),
    "multiorgan_8class": Study(
        "multiorgan_8class",
        multiorgan.CLASSES,
        multiorgan.sample_patient,
        multiorgan.render,
        128,
        0.0,
        "MRI-like slices of brain, breast, kidney, lung, each with or without a tumor (seed 004)",
    ),
}


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; choose one of {sorted(STUDIES)}")
    return STUDIES[name]


def render_image(
    study: Study, patient: dict, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """One acquisition of ``patient``: image in [0, 1] and lesion mask (or None), moved alike."""
    canvas = Canvas(size)
    image, mask = study.render(patient, rng, canvas)
    image, motion = acquisition(rng, image.astype(np.float32), canvas, study.noise)
    if mask is not None:
        mask = move(mask.astype(np.uint8), motion, order=0) > 0
    return np.clip(image, 0, 1), mask


def write_study_images(
    study: str,
    out_dir: str | Path,
    patients_per_class: int = 12,
    images_per_patient: int = 3,
    size: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a labelled image set of ``study``; returns the path of its ``datalist.csv``.

    The same (study, seed, counts, size) always gives the same images.
    """
    from PIL import Image

    spec = get_study(study)
    size = size or spec.size
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    rows = []
    for label, name in enumerate(spec.classes):
        for p in range(patients_per_class):
            patient_id = f"{name}_p{p:03d}"
            patient = spec.sample_patient(rng, label)
            for k in range(images_per_patient):
                image, mask = render_image(spec, patient, rng, size)
                rel = Path(name) / f"{patient_id}_{k}.png"
                _write_png(Image, (image * 255).round().astype(np.uint8), out / rel)
                row = {"image": str(rel), "label": name, "patient_id": patient_id, "mask": ""}
                if mask is not None and mask.any():
                    mask_rel = Path("masks") / rel
                    _write_png(Image, mask.astype(np.uint8) * 255, out / mask_rel)
                    row["mask"] = str(mask_rel)
                rows.append(row)
    datalist = out / "datalist.csv"
    with atomic_path(datalist) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["image", "label", "patient_id", "mask"])
            writer.writeheader()
            writer.writerows(rows)
    return datalist


def _write_png(image_module, array: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        image_module.fromarray(array).save(tmp, format="PNG")
