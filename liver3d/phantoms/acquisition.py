"""CT acquisition and reconstruction effects applied to a phantom's ideal HU volume.

- Slice profile: a Gaussian along z whose FWHM is the slice thickness (the reconstruction interval is the
  voxel spacing along z).
- Reconstruction kernel: soft kernels blur more and give coarse, blotchy noise; sharp kernels keep edges
  (with a little overshoot) and give fine-grained noise of a higher SD (DoseSave, "What is a reconstruction
  kernel?", after Bushberg; Sugisawa et al., Phys Med).
- Noise: 5-40 HU SD in soft tissue (measured liver CT noise about 8-11 HU with FBP / hybrid iterative
  reconstruction at routine dose, higher on thin slices and sharp kernels: Shuman et al., AJR 2013;
  Zhao et al., PLOS One 2016).
- Beam hardening and streaks: dark bands from the spine towards the ribs, and bright/dark streaks radiating
  from metal (a spinal screw, a surgical clip or a port), both in the axial plane; a slight cupping (the
  centre of the body a few HU darker than its edge).

All effects are drawn per case from the case's generator (:func:`draw_acquisition`), so a case stays
reproducible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from liver3d.phantoms.geometry import PatientGrid

SLICE_THICKNESSES_MM = (0.625, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)
THICKNESS_WEIGHTS = (0.08, 0.12, 0.1, 0.1, 0.15, 0.15, 0.15, 0.15)
# kernel -> (image blur sigma in-plane mm, noise correlation sigma mm, edge overshoot, noise factor)
KERNELS = {
    "soft": ((0.8, 1.1), (1.0, 1.4), (0.0, 0.0), 0.8),
    "standard": ((0.5, 0.8), (0.7, 1.0), (0.0, 0.15), 1.0),
    "sharp": ((0.3, 0.45), (0.4, 0.6), (0.3, 0.7), 1.6),
}
NOISE_SD_HU = (5.0, 40.0)


@dataclass
class Acquisition:
    """How one case was scanned and reconstructed."""

    slice_thickness_mm: float
    kernel: str
    noise_sd_hu: float
    streaks: str  # "none", "bone" (beam hardening) or "metal"
    cupping_hu: float

    def as_dict(self) -> dict:
        return asdict(self)


def draw_acquisition(rng: np.random.Generator, slice_thickness_mm: float | None = None) -> Acquisition:
    thickness = (
        float(rng.choice(SLICE_THICKNESSES_MM, p=THICKNESS_WEIGHTS))
        if slice_thickness_mm is None
        else float(slice_thickness_mm)
    )
    kernel = str(rng.choice(list(KERNELS), p=(0.35, 0.5, 0.15)))
    # Thin slices and sharp kernels are noisier; the draw stays within the clinical 5-40 HU.
    base = float(np.exp(rng.uniform(np.log(6.0), np.log(20.0))))
    sd = base * (2.5 / max(thickness, 0.5)) ** 0.35 * KERNELS[kernel][3]
    streaks = str(rng.choice(["none", "bone", "metal"], p=(0.55, 0.33, 0.12)))
    return Acquisition(
        slice_thickness_mm=thickness,
        kernel=kernel,
        noise_sd_hu=float(np.clip(sd, *NOISE_SD_HU)),
        streaks=streaks,
        cupping_hu=float(rng.uniform(0, 12)),
    )


def _spokes(
    x: np.ndarray,
    y: np.ndarray,
    center: tuple[float, float],
    angles: np.ndarray,
    amplitudes: np.ndarray,
    width_mm: float,
    decay_mm: float,
) -> np.ndarray:
    """Sum of straight streaks through ``center`` (mm) at ``angles``, fading with distance from it."""
    dx, dy = x - center[0], y - center[1]
    r = np.sqrt(dx**2 + dy**2)
    out = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.float32)
    for angle, amp in zip(angles, amplitudes):
        d = np.abs(dx * np.sin(angle) - dy * np.cos(angle))
        out += (amp * np.exp(-0.5 * (d / width_mm) ** 2)).astype(np.float32)
    return out * (decay_mm / (decay_mm + r)).astype(np.float32)


def streak_field(
    grid: PatientGrid, acq: Acquisition, rng: np.random.Generator, spine_xy: tuple[float, float]
) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """An axial (X, Y) field of streak HU and, for metal, the metal's centre (mm) to paint.

    Bone: dark bands from the vertebral body towards the lateral ribs. Metal: alternating bright and dark
    streaks in every direction from a small dense object.
    """
    x, y, _ = grid.axes()
    x2, y2 = x[:, :, 0], y[:, :, 0]
    if acq.streaks == "bone":
        n = int(rng.integers(3, 7))
        angles = rng.uniform(0.2, 1.2, n) * rng.choice([-1, 1], n) + np.pi / 2
        amps = -rng.uniform(15, 45, n)
        return _spokes(x2, y2, spine_xy, angles, amps, rng.uniform(2.0, 4.0), 120.0), None
    if acq.streaks == "metal":
        offset = rng.uniform(-60, 60, 2)
        center = (spine_xy[0] + offset[0], spine_xy[1] + abs(offset[1]) + 20)
        n = int(rng.integers(8, 20))
        angles = rng.uniform(0, np.pi, n)
        amps = rng.uniform(80, 350, n) * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
        z_mid = grid.origin[2] + grid.spacing[2] * grid.shape[2] * rng.uniform(0.2, 0.8)
        return _spokes(x2, y2, center, angles, amps, rng.uniform(0.7, 1.5), 40.0), (*center, float(z_mid))
    return np.zeros(x2.shape, dtype=np.float32), None


def apply_acquisition(
    hu: np.ndarray,
    body: np.ndarray,
    grid: PatientGrid,
    acq: Acquisition,
    rng: np.random.Generator,
    streaks: np.ndarray | None = None,
    streak_slices: slice | None = None,
) -> np.ndarray:
    """Blur ``hu`` (float32, (X, Y, Z), in place) by the slice profile and kernel, add streaks and noise.

    ``body`` marks voxels inside the patient (streaks, cupping and most noise live there).
    """
    sx, sy, sz = grid.spacing
    blur_mm = float(rng.uniform(*KERNELS[acq.kernel][0]))
    sigma_z = max(acq.slice_thickness_mm / 2.355 / sz, 0.35)
    ndimage.gaussian_filter(hu, sigma=(blur_mm / sx, blur_mm / sy, sigma_z), output=hu)
    overshoot = float(rng.uniform(*KERNELS[acq.kernel][2]))
    if overshoot > 0:
        smooth = ndimage.gaussian_filter(hu, sigma=(1.2 / sx, 1.2 / sy, 0))
        hu += overshoot * (hu - smooth)
        del smooth
    if streaks is not None and streak_slices is not None:
        hu[:, :, streak_slices] += (streaks[:, :, None] * body[:, :, streak_slices]).astype(np.float32)
    if acq.cupping_hu > 0:
        x, y, _ = grid.axes()
        r2 = (x / max(abs(float(x.min())), 1.0)) ** 2 + (y / max(abs(float(y.min())), 1.0)) ** 2
        hu -= (acq.cupping_hu * np.clip(1 - r2, 0, 1)).astype(np.float32) * body
    noise = rng.standard_normal(grid.shape, dtype=np.float32)
    corr_mm = float(rng.uniform(*KERNELS[acq.kernel][1]))
    ndimage.gaussian_filter(noise, sigma=(corr_mm / sx, corr_mm / sy, 0.3), output=noise)
    noise *= acq.noise_sd_hu / float(noise[::7, ::7, ::3].std() or 1.0)
    # Outside the patient the reconstruction is quieter (air, table).
    noise *= np.where(body, 1.0, 0.4).astype(np.float32)
    hu += noise
    return hu
