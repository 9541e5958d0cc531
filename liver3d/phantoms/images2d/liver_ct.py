"""Axial contrast CT slices through the liver, four classes (seed 003: benign, malignant, cirrhosis, normal).

Drawn in Hounsfield units, then shown in a liver window (W 400, L 40) as 8-bit grey, as exported CT
images are. Body wall (skin, fat, muscle), liver with portal vessels, spleen, stomach with air, aorta,
IVC, vertebra, kidneys.

* normal: homogeneous liver (about 60 HU), smooth edge.
* cirrhosis: smaller right lobe, nodular surface, coarse heterogeneous parenchyma, ascites around the
  liver, enlarged spleen. No lesion mask (a diffuse disease).
* benign: one or two simple cysts: round, water density (0-10 HU), homogeneous, sharp edge.
* malignant: one to three masses: irregular, ill-defined, hypodense with an enhancing rim and a necrotic
  centre.
"""

from __future__ import annotations

import numpy as np

from liver3d.phantoms.images2d.shapes import Canvas, ellipse, jitter, lobulated, paint, smooth_noise, soften

CLASSES = ("benign", "malignant", "cirrhosis", "normal")
WINDOW = (-160.0, 240.0)  # liver window, W 400 L 40


def sample_patient(rng: np.random.Generator, label: int) -> dict:
    name = CLASSES[label]
    patient = {
        "name": name,
        "seed": int(rng.integers(2**31)),
        "liver_hu": rng.uniform(52, 68),
        "liver_scale": rng.uniform(0.72, 0.85) if name == "cirrhosis" else rng.uniform(0.95, 1.08),
        "spleen_scale": rng.uniform(1.35, 1.7) if name == "cirrhosis" else rng.uniform(0.85, 1.1),
        "body": (jitter(rng, 0.34, 0.06), jitter(rng, 0.45, 0.05)),
        "lesions": [],
    }
    if name == "benign":
        for _ in range(rng.integers(1, 3)):
            patient["lesions"].append(
                {"kind": "cyst", "radius": rng.uniform(0.025, 0.06), "hu": rng.uniform(0, 12)}
            )
    elif name == "malignant":
        for _ in range(rng.integers(1, 4)):
            patient["lesions"].append(
                {"kind": "mass", "radius": rng.uniform(0.04, 0.08), "hu": rng.uniform(20, 35)}
            )
    for lesion in patient["lesions"]:  # position within the liver, as offsets from the right lobe centre
        lesion["offset"] = (rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.08))
    return patient


def render(patient: dict, rng: np.random.Generator, canvas: Canvas) -> tuple[np.ndarray, np.ndarray | None]:
    """One slice (0-1 after windowing) and the lesion mask (None for normal and cirrhosis)."""
    anatomy = np.random.default_rng(patient["seed"])
    cirrhotic = patient["name"] == "cirrhosis"
    hu = np.full((canvas.size, canvas.size), -1000.0, np.float32)
    body = lobulated(anatomy, canvas, (0.52, 0.5), patient["body"], amplitude=0.04, lobes=(2, 4))
    hu = paint(hu, soften(body, canvas), -100 + 10 * smooth_noise(anatomy, canvas, 0.01))
    ry, rx = patient["body"]
    inner = ellipse(canvas, (0.52, 0.5), (ry - 0.035, rx - 0.035)) < 1
    muscle = (ellipse(canvas, (0.52, 0.5), (ry - 0.03, rx - 0.03)) < 1) & ~inner
    hu = paint(hu, soften(muscle, canvas), 45.0)
    viscera = -60 + 50 * (smooth_noise(anatomy, canvas, 0.02) > 0.3)  # fat with bowel loops
    hu = paint(hu, soften(inner, canvas), viscera)
    s = patient["liver_scale"]
    right_lobe = lobulated(
        anatomy,
        canvas,
        (0.47, 0.33),
        (0.2 * s, 0.19 * s),
        amplitude=0.1 if cirrhotic else 0.05,
        lobes=(9, 15) if cirrhotic else (2, 4),
    )
    left_lobe = ellipse(canvas, (0.4, 0.5), (0.08 * s, 0.13 * s), angle_deg=-20) < 1
    liver = (right_lobe | left_lobe) & inner
    if cirrhotic:
        grown = soften(liver, canvas, 0.03) > 0.02
        hu = paint(hu, soften(grown & inner & ~liver, canvas), 8.0)  # ascites rim
        texture = 14 * smooth_noise(rng, canvas, 0.012)  # regenerative nodules and fibrosis
    else:
        texture = 4 * smooth_noise(rng, canvas, 0.006)
    hu = paint(hu, soften(liver, canvas), patient["liver_hu"] + texture)
    vessels = (smooth_noise(anatomy, canvas, 0.008) > 1.7) & liver
    hu = paint(hu, soften(vessels, canvas) * 0.8, 150.0)
    sp = patient["spleen_scale"]
    spleen = ellipse(canvas, (0.52, 0.76), (0.1 * sp, 0.055 * sp), angle_deg=30) < 1
    hu = paint(hu, soften(spleen & inner, canvas), 50.0)
    stomach = ellipse(canvas, (0.4, 0.66), (0.07, 0.08)) < 1
    hu = paint(hu, soften(stomach & inner, canvas), np.where(canvas.yy < 0.38, -900.0, 20.0))
    for center, r, value in (((0.64, 0.53), 0.024, 170.0), ((0.6, 0.43), 0.028, 120.0)):  # aorta, IVC
        hu = paint(hu, soften(ellipse(canvas, center, (r, r)) < 1, canvas), value)
    vertebra = ellipse(canvas, (0.74, 0.5), (0.055, 0.06)) < 1
    hu = paint(hu, soften(vertebra, canvas), 700.0)
    hu = paint(hu, soften(ellipse(canvas, (0.74, 0.5), (0.04, 0.045)) < 1, canvas), 250.0)
    for x in (0.33, 0.67):
        kidney = ellipse(canvas, (0.71, x), (0.05, 0.035), angle_deg=25 if x < 0.5 else -25) < 1
        hu = paint(hu, soften(kidney & ~liver, canvas), 160.0)
    mask = None
    if patient["lesions"]:
        mask = np.zeros_like(liver)
        for lesion in patient["lesions"]:
            center = (0.47 + lesion["offset"][0] * s, 0.33 + lesion["offset"][1] * s)
            r = lesion["radius"] * rng.uniform(0.92, 1.08)  # another slice level: a little larger or smaller
            if lesion["kind"] == "cyst":
                region = (ellipse(canvas, center, (r, r * rng.uniform(0.9, 1.1))) < 1) & liver
                hu = paint(
                    hu, soften(region, canvas, 0.002), lesion["hu"] + 2 * smooth_noise(rng, canvas, 0.01)
                )
            else:
                region = lobulated(rng, canvas, center, (r, r), amplitude=0.2, lobes=(4, 9)) & liver
                q = ellipse(canvas, center, (r, r))
                inside = lesion["hu"] + 12 * smooth_noise(rng, canvas, 0.006)
                inside = np.where(q < 0.3, 15.0, inside)  # necrotic centre
                hu = paint(hu, soften(region, canvas, 0.008), inside)
                rim = region & (q > 0.55) & (q < 1.2)
                hu = paint(hu, soften(rim, canvas, 0.006) * 0.7, 95.0)
            mask |= region
    low, high = WINDOW
    return np.clip((hu - low) / (high - low), 0, 1), mask
