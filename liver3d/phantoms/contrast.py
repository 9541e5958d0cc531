"""Contrast phases of abdominal CT and the tissue densities (HU) each one gives.

A case draws one phase; every tissue then draws its mean density from that phase's range. The ranges are
per-case means (noise and texture come on top), checked against these published values:

- Non-contrast: liver 50-70 HU, about 10 HU above the spleen; blood 45-65 HU in the sources (35-50 HU here, to
  cover anaemic patients); kidneys 30-50 HU (renal cortex 28-40 HU here); bile 0-20 HU
  (Radiopaedia, A. Murphy, "Late arterial phase"; ITK Wiki, "Hounsfield units"; radclass.mudr.org "Hounsfield
  units" after Prokop; The Common Vein, "Gallbladder character").
- Late arterial (about 35-40 s): aorta peak 290-360 HU; liver only mildly enhanced (+20-30 HU); portal vein
  about 145 HU and the splenic vein opacified, hepatic veins not yet; spleen heterogeneous (arciform); renal
  cortex +195-217 HU with a 110-140 HU cortico-medullary difference; pancreas 100-150 HU ("MDCT of the liver and
  hypervascular HCCs: optimizing scan delays for bolus-tracking", AJR; Radtrain, "The multiphase liver";
  renal bolus-tracking MDCT study, PubMed 17367973; SatMed dual-phase pancreatic CT protocol).
- Portal venous (about 60-75 s): liver +50-60 HU (about 105-125 HU), aorta about 160-190 HU, portal and hepatic
  veins opacified (the portal vein at its highest), spleen homogeneous, kidneys nephrographic with a
  cortico-medullary difference below 30 HU (same AJR bolus-tracking study; Naruo et al., Radiat Med 2007;
  RadioDaddy, "Phases in contrast-enhanced CT").
- Delayed / equilibrium (3-5 min): aorta, IVC, portal and hepatic veins no longer differ (AJR 2010 multiphase
  MDCT study of hemangioma enhancement, doi:10.2214/AJR.09.3324); here each vessel draws its own value in
  100-140 HU (so they stay within about 40 HU of each other) and the liver 80-105 HU.
- Fatty liver: at least 10 HU below the spleen without contrast, below 40-48 HU for moderate steatosis, down to
  about -3 HU at 40% MRI fat fraction; steatotic livers also enhance less (Pickhardt, Park et al., Eur Radiol
  2012; Radiology 2021;301:250; "Liver enhancement on CT is suboptimal in patients with liver steatosis", J Pers
  Med 2021). Cirrhotic livers enhance less in the portal venous phase (about 40 vs 56 HU; Naruo 2007).

Where the sources give a change (delta HU) rather than a level, the ranges are the unenhanced level plus that
change, widened a little to cover scanners, injection protocols and patients; they are not patient statistics.
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
# keys draw_phase_densities returns; tissues not listed here (fat, air, bone, lung, bile...) do not depend on it.
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
