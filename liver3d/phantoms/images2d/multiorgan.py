"""Grey-scale MRI-like slices of four organs with or without a tumor (seed 004's eight classes, 128 px).

* brain: scalp, skull, brain with grey/white texture and ventricles; tumor: a bright mass with a dark
  oedema halo.
* breast: two breasts (fat bright, fibroglandular tissue darker) over the chest wall; tumor: a bright
  spiculated mass.
* kidney: abdomen with liver, spine and two kidneys (cortex bright, medulla darker); tumor: a round
  heterogeneous mass bulging from a kidney.
* lung: chest with dark lungs, heart and spine; tumor: a bright nodule inside a lung.

The tumor's extent is the lesion mask. Intensity inhomogeneity (a smooth bias field) and Rician-like
noise differ per image.
"""

from __future__ import annotations

import numpy as np

from liver3d.phantoms.images2d.shapes import Canvas, ellipse, jitter, lobulated, paint, smooth_noise, soften

ORGANS = ("brain", "breast", "kidney", "lung")
CLASSES = tuple(f"{organ}_{state}" for organ in ORGANS for state in ("tumor", "no_tumor"))


def sample_patient(rng: np.random.Generator, label: int) -> dict:
    organ, tumor = ORGANS[label // 2], label % 2 == 0
    patient = {
        "organ": organ,
        "seed": int(rng.integers(2**31)),
        "scale": jitter(rng, 1.0, 0.08),
        "tumor": None,
    }
    if tumor:
        patient["tumor"] = {
            "radius": rng.uniform(0.035, 0.08),
            "where": (rng.uniform(-1, 1), rng.uniform(-1, 1)),
            "side": int(rng.choice([-1, 1])),
        }
    return patient


def render(patient: dict, rng: np.random.Generator, canvas: Canvas) -> tuple[np.ndarray, np.ndarray | None]:
    anatomy = np.random.default_rng(patient["seed"])
    draw = {"brain": _brain, "breast": _breast, "kidney": _kidney, "lung": _lung}[patient["organ"]]
    image, host, tumor_center = draw(anatomy, canvas, patient)
    mask = None
    if patient["tumor"] is not None:
        t = patient["tumor"]
        r = t["radius"] * rng.uniform(0.9, 1.1)
        spiculated = patient["organ"] == "breast"
        mask = lobulated(
            rng, canvas, tumor_center, (r, r), amplitude=0.45 if spiculated else 0.12, lobes=(6, 12)
        )
        if patient["organ"] != "kidney":
            mask &= host
        if patient["organ"] == "brain":
            halo = lobulated(rng, canvas, tumor_center, (1.6 * r, 1.6 * r), amplitude=0.2) & host & ~mask
            image = paint(image, soften(halo, canvas, 0.01), 0.3)
        image = paint(image, soften(mask, canvas, 0.006), 0.82 + 0.08 * smooth_noise(rng, canvas, 0.01))
    bias = 1 + 0.12 * smooth_noise(rng, canvas, 0.25)
    image = image * bias
    noise = rng.uniform(0.02, 0.05)
    real = image + noise * rng.standard_normal(image.shape)
    imag = noise * rng.standard_normal(image.shape)
    return np.clip(np.sqrt(real**2 + imag**2), 0, 1), mask


def _brain(rng, canvas, patient):
    s = patient["scale"]
    head = lobulated(rng, canvas, (0.5, 0.5), (0.42 * s, 0.35 * s), amplitude=0.03)
    skull = lobulated(rng, canvas, (0.5, 0.5), (0.39 * s, 0.32 * s), amplitude=0.02)
    brain = ellipse(canvas, (0.5, 0.5), (0.36 * s, 0.29 * s)) < 1
    image = np.zeros((canvas.size, canvas.size), np.float32)
    image = paint(image, soften(head, canvas), 0.75)
    image = paint(image, soften(skull, canvas), 0.08)
    image = paint(image, soften(brain, canvas), 0.5 + 0.08 * np.tanh(2 * smooth_noise(rng, canvas, 0.015)))
    for side in (-1, 1):
        ventricle = (
            ellipse(canvas, (0.48, 0.5 + side * 0.035 * s), (0.09 * s, 0.022 * s), angle_deg=side * 12) < 1
        )
        image = paint(image, soften(ventricle, canvas), 0.15)
    return image, brain, _place(patient, (0.5, 0.5), (0.2 * s, 0.16 * s))


def _breast(rng, canvas, patient):
    s = patient["scale"]
    chest = (canvas.yy > 0.62) & (ellipse(canvas, (0.85, 0.5), (0.35, 0.48)) < 1)
    image = np.zeros((canvas.size, canvas.size), np.float32)
    image = paint(image, soften(chest, canvas), 0.35 + 0.05 * smooth_noise(rng, canvas, 0.03))
    breasts = np.zeros_like(chest)
    for side in (-1, 1):
        breasts |= (ellipse(canvas, (0.62, 0.5 + side * 0.22), (0.34 * s, 0.2 * s)) < 1) & (canvas.yy < 0.64)
    image = paint(image, soften(breasts, canvas), 0.8)
    glandular = breasts & (smooth_noise(rng, canvas, 0.02) > 0.2) & (canvas.yy > 0.4)
    image = paint(image, soften(glandular, canvas, 0.006), 0.4)
    side = patient["tumor"]["side"] if patient["tumor"] else 1
    return image, breasts, _place(patient, (0.5, 0.5 + side * 0.22), (0.08 * s, 0.08 * s))


def _kidney(rng, canvas, patient):
    s = patient["scale"]
    body = lobulated(rng, canvas, (0.5, 0.5), (0.36 * s, 0.46 * s), amplitude=0.03)
    image = np.zeros((canvas.size, canvas.size), np.float32)
    image = paint(image, soften(body, canvas), 0.55 + 0.05 * smooth_noise(rng, canvas, 0.03))
    liver = (ellipse(canvas, (0.42, 0.32), (0.17 * s, 0.16 * s)) < 1) & body
    image = paint(image, soften(liver, canvas), 0.4)
    spine = ellipse(canvas, (0.7, 0.5), (0.05 * s, 0.055 * s)) < 1
    image = paint(image, soften(spine, canvas), 0.2)
    kidneys = np.zeros_like(body)
    for side in (-1, 1):
        center = (0.64, 0.5 + side * 0.17 * s)
        kidney = ellipse(canvas, center, (0.075 * s, 0.045 * s), angle_deg=-side * 25) < 1
        medulla = ellipse(canvas, center, (0.045 * s, 0.02 * s), angle_deg=-side * 25) < 1
        image = paint(image, soften(kidney, canvas), 0.72)
        image = paint(image, soften(medulla, canvas), 0.45)
        kidneys |= kidney
    side = patient["tumor"]["side"] if patient["tumor"] else 1
    return image, kidneys, _place(patient, (0.64, 0.5 + side * 0.17 * s), (0.06 * s, 0.04 * s))


def _lung(rng, canvas, patient):
    s = patient["scale"]
    chest = lobulated(rng, canvas, (0.5, 0.5), (0.38 * s, 0.46 * s), amplitude=0.03)
    image = np.zeros((canvas.size, canvas.size), np.float32)
    image = paint(image, soften(chest, canvas), 0.5)
    lungs = np.zeros_like(chest)
    for side in (-1, 1):
        lungs |= lobulated(rng, canvas, (0.47, 0.5 + side * 0.2 * s), (0.26 * s, 0.14 * s), amplitude=0.05)
    image = paint(image, soften(lungs, canvas), 0.06 + 0.02 * smooth_noise(rng, canvas, 0.01))
    heart = ellipse(canvas, (0.52, 0.53), (0.14 * s, 0.12 * s)) < 1
    image = paint(image, soften(heart, canvas), 0.58)
    spine = ellipse(canvas, (0.8, 0.5), (0.05 * s, 0.05 * s)) < 1
    image = paint(image, soften(spine, canvas), 0.25)
    side = patient["tumor"]["side"] if patient["tumor"] else 1
    return image, lungs & ~heart, _place(patient, (0.45, 0.5 + side * 0.2 * s), (0.15 * s, 0.07 * s))


def _place(patient: dict, center: tuple[float, float], spread: tuple[float, float]) -> tuple[float, float]:
    """Where the tumor sits: ``center`` plus the patient's fixed offset within ``spread``."""
    where = patient["tumor"]["where"] if patient["tumor"] else (0.0, 0.0)
    return (center[0] + where[0] * spread[0], center[1] + where[1] * spread[1])
