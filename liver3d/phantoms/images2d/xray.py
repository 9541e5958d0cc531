"""Frontal chest X-ray phantoms: normal vs pneumonia (seed 002, RSNA Pneumonia Detection Challenge).

Bright = dense. Body soft tissue, two air-filled lung fields with vascular markings, heart and mediastinum,
spine, posterior ribs and clavicles, diaphragm domes. Pneumonia is a patchy airspace consolidation (an
opacity that raises lung density, denser at its core, ragged edge) in one or two lung zones, lower zones
more often; its extent is the lesion mask.
"""

from __future__ import annotations

import numpy as np

from liver3d.phantoms.images2d.shapes import (
    Canvas,
    band,
    ellipse,
    jitter,
    lobulated,
    paint,
    smooth_noise,
    soften,
)

CLASSES = ("normal", "pneumonia")


def sample_patient(rng: np.random.Generator, label: int) -> dict:
    """Anatomy of one patient (shared by all of its images) and, for pneumonia, its consolidations."""
    patient = {
        "lung_ry": jitter(rng, 0.27, 0.1),
        "lung_rx": jitter(rng, 0.155, 0.1),
        "heart": (jitter(rng, 0.14, 0.15), jitter(rng, 0.15, 0.15)),
        "rib_gap": jitter(rng, 0.062, 0.08),
        "body_rx": jitter(rng, 0.47, 0.05),
        "seed": int(rng.integers(2**31)),
        "consolidations": [],
    }
    if CLASSES[label] == "pneumonia":
        for _ in range(rng.integers(1, 3)):
            side = rng.choice([-1, 1])
            zone = rng.choice([0.38, 0.5, 0.6], p=[0.2, 0.35, 0.45])
            patient["consolidations"].append(
                {
                    "center": (zone, 0.5 + side * rng.uniform(0.14, 0.21)),
                    "radii": (rng.uniform(0.06, 0.12), rng.uniform(0.05, 0.09)),
                    "density": rng.uniform(0.12, 0.28),
                }
            )
    return patient


def render(patient: dict, rng: np.random.Generator, canvas: Canvas) -> tuple[np.ndarray, np.ndarray | None]:
    """One radiograph of ``patient`` (values about 0-1) and the consolidation mask (None when normal)."""
    anatomy = np.random.default_rng(patient["seed"])  # the same body in every image of the patient
    yy, xx = canvas.yy, canvas.xx
    image = np.full((canvas.size, canvas.size), 0.04, np.float32)
    body = lobulated(anatomy, canvas, (0.56, 0.5), (0.56, patient["body_rx"]), amplitude=0.03)
    image = paint(image, soften(body, canvas, 0.01), 0.55)
    ry, rx = patient["lung_ry"], patient["lung_rx"]
    lungs = np.zeros_like(body)
    for side in (-1, 1):
        lung = lobulated(
            anatomy, canvas, (0.45, 0.5 + side * 0.19), (ry, rx), amplitude=0.05, angle_deg=side * 4
        )
        lungs |= lung & (yy < 0.45 + ry * 0.92)  # flat-topped diaphragm dome below
    markings = 0.02 * smooth_noise(anatomy, canvas, 0.01) + 0.06 * np.exp(
        -((yy - 0.47) ** 2 + (np.abs(xx - 0.5) - 0.09) ** 2) / 0.01
    )
    image = paint(image, soften(lungs, canvas, 0.006), 0.17 + markings)
    heart = ellipse(canvas, (0.63, 0.55), patient["heart"], angle_deg=-25) < 1
    mediastinum = (np.abs(xx - 0.5) < 0.045) & (yy < 0.7)
    image = paint(image, soften(heart | mediastinum, canvas, 0.008), 0.62)
    image = image + 0.12 * band(xx - 0.5, 0.03) * (yy < 0.9)  # spine through the mediastinum
    for side in (-1, 1):
        for k in range(9):
            y0 = 0.2 + k * patient["rib_gap"]
            lateral = np.abs(xx - 0.5) - 0.05
            curve = y0 - 0.03 + 0.9 * lateral**2
            on_side = (lateral > 0) & (np.sign(xx - 0.5) == side) & (yy < 0.78)
            image = image + 0.08 * band(yy - curve, 0.01) * on_side * body
        clavicle = 0.2 - 0.1 * np.abs(xx - 0.5) + 0.3 * (np.abs(xx - 0.5) - 0.18) ** 2
        image = image + 0.12 * band(yy - clavicle, 0.012) * (np.abs(xx - 0.5) < 0.33) * (
            np.abs(xx - 0.5) > 0.04
        )
    mask = None
    if patient["consolidations"]:
        mask = np.zeros_like(lungs)
        opacity = np.zeros_like(image)
        for c in patient["consolidations"]:
            scale = rng.uniform(0.9, 1.1)  # extent differs a little between the patient's images
            radii = (c["radii"][0] * scale, c["radii"][1] * scale)
            region = lobulated(rng, canvas, c["center"], radii, amplitude=0.35, lobes=(4, 9)) & lungs
            core = np.exp(-ellipse(canvas, c["center"], radii))
            patchy = np.clip(0.65 + 0.5 * smooth_noise(rng, canvas, 0.012), 0, 1)
            opacity = np.maximum(
                opacity, c["density"] * soften(region, canvas, 0.012) * patchy * (0.5 + core)
            )
            mask |= region
        image = image + opacity
    exposure = rng.uniform(0.85, 1.15)
    return np.clip(image * exposure, 0, 1.2) / 1.2, mask
