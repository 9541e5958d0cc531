"""Contrast phases of abdominal CT and the tissue densities (HU) each one gives.

A case draws one phase; every tissue then draws its mean density from that phase's range. The ranges are
per-case means (noise and texture come on top) and follow published abdominal CT values:

- Non-contrast: liver 50-70 HU, spleen about 8-10 HU below the liver, unenhanced blood 35-50 HU, kidneys
  30-40 HU, bile 0-20 HU (Radiopaedia, "Hounsfield unit" and "Liver attenuation"; Kodama et al., AJR 2007,
  "Comparison of CT methods for determining the fat content of the liver").
- Late arterial (about 35-40 s): aorta 250-400 HU, liver only mildly enhanced (+10-25 HU), spleen
  heterogeneous (arciform / "zebra" pattern), renal cortex much brighter than medulla (corticomedullary
  phase), pancreas at its peak, portal vein partly opacified, hepatic veins not yet (Radiopaedia, "Late
  arterial phase", "Splenic arciform enhancement", "Corticomedullary phase"; Bae, Radiology 2010,
  "Intravenous contrast medium administration and scan timing at CT").
- Portal venous (about 60-75 s): liver 100-130 HU, portal and hepatic veins 150-200 HU, aorta 150-200 HU,
  spleen homogeneous, kidneys nephrographic (cortex = medulla) (Radiopaedia, "Portal venous phase",
  "Nephrographic phase"; Bae 2010).
- Delayed / equilibrium (3-5 min): vessels and liver close together (vessels 100-140 HU, liver 80-105 HU),
  lesions that wash out are most conspicuous (Radiopaedia, "Delayed phase"; LI-RADS CT/MRI v2018 core).
- Fatty liver lowers the liver by the fat fraction (about -1.5 HU per percent fat; liver below the spleen on
  non-contrast CT, down to about 0 HU) (Kodama 2007; Radiopaedia, "Hepatic steatosis").

Values here are typical ranges gathered from those sources, widened a little so the phantoms cover the
variation between scanners, contrast protocols and patients; they are not patient statistics.
"""

from __future__ import annotations

from enum import Enum

import numpy as np


class Phase(str, Enum):
    NON_CONTRAST = "non_contrast"
    ARTERIAL = "arterial"
    PORTAL_VENOUS = "portal_venous"
    DELAYED = "delayed"


#: How often each phase is drawn: most clinical liver CT is contrast-enhanced, portal venous above all.
PHASE_PROBABILITIES = {
    Phase.NON_CONTRAST: 0.25,
    Phase.ARTERIAL: 0.2,
    Phase.PORTAL_VENOUS: 0.4,
    Phase.DELAYED: 0.15,
}

# (low, high) mean HU per phase for the tissues whose density depends on the contrast phase. Names are the
# keys of ``PhaseDensities``; tissues not listed here (fat, air, bone, lung, bile...) do not depend on it.
PHASE_HU: dict[Phase, dict[str, tuple[float, float]]] = {
    Phase.NON_CONTRAST: {
        "liver": (50, 70),
        "aorta": (35, 50),
        "portal_vein": (35, 50),
        "hepatic_vein": (32, 48),
        "ivc": (35, 50),
        "heart_left": (35, 50),
        "heart_right": (35, 50),
        "myocardium": (40, 55),
        "spleen_offset": (-14, -2),  # relative to the liver (spleen below the liver)
        "spleen_heterogeneity": (0, 0),
        "renal_cortex": (28, 40),
        "renal_medulla": (25, 38),
        "pancreas": (35, 48),
        "muscle": (45, 58),
        "bowel_wall": (35, 50),
    },
    Phase.ARTERIAL: {
        "liver": (62, 92),
        "aorta": (250, 400),
        "portal_vein": (100, 180),
        "hepatic_vein": (40, 75),
        "ivc": (60, 120),
        "heart_left": (250, 400),
        "heart_right": (120, 260),
        "myocardium": (90, 140),
        "spleen_offset": (30, 80),
        "spleen_heterogeneity": (20, 45),
        "renal_cortex": (160, 260),
        "renal_medulla": (60, 110),
        "pancreas": (100, 150),
        "muscle": (50, 65),
        "bowel_wall": (80, 120),
    },
    Phase.PORTAL_VENOUS: {
        "liver": (100, 130),
        "aorta": (150, 200),
        "portal_vein": (150, 200),
        "hepatic_vein": (130, 190),
        "ivc": (110, 170),
        "heart_left": (140, 200),
        "heart_right": (140, 200),
        "myocardium": (90, 120),
        "spleen_offset": (-5, 15),
        "spleen_heterogeneity": (0, 3),
        "renal_cortex": (150, 200),
        "renal_medulla": (150, 200),
        "pancreas": (90, 120),
        "muscle": (55, 65),
        "bowel_wall": (70, 100),
    },
    Phase.DELAYED: {
        "liver": (80, 105),
        "aorta": (100, 140),
        "portal_vein": (100, 140),
        "hepatic_vein": (100, 140),
        "ivc": (100, 140),
        "heart_left": (100, 140),
        "heart_right": (100, 140),
        "myocardium": (75, 100),
        "spleen_offset": (-8, 8),
        "spleen_heterogeneity": (0, 2),
        "renal_cortex": (120, 180),
        "renal_medulla": (130, 190),
        "pancreas": (70, 90),
        "muscle": (50, 62),
        "bowel_wall": (60, 85),
    },
}

#: Fatty liver: HU subtracted from the liver in every phase (fat fraction about 5-40%).
FATTY_LIVER_DROP_HU = (20.0, 60.0)


def draw_phase(rng: np.random.Generator) -> Phase:
    phases = list(PHASE_PROBABILITIES)
    p = np.array([PHASE_PROBABILITIES[k] for k in phases])
    return phases[int(rng.choice(len(phases), p=p / p.sum()))]


def draw_phase_densities(rng: np.random.Generator, phase: Phase) -> dict[str, float]:
    """One case's mean HU for every phase-dependent tissue (``spleen`` included, from the liver and offset)."""
    table = PHASE_HU[phase]
    hu = {name: float(rng.uniform(lo, hi)) for name, (lo, hi) in table.items()}
    # Nephrographic kidneys are homogeneous: medulla follows the cortex within a few HU.
    if phase in (Phase.PORTAL_VENOUS, Phase.NON_CONTRAST):
        hu["renal_medulla"] = hu["renal_cortex"] + float(rng.uniform(-8, 2))
    hu["spleen"] = hu["liver"] + hu.pop("spleen_offset")
    return hu
