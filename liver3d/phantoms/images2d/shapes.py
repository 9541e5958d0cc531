"""Drawing primitives for the 2D study phantoms, on a canvas of normalised coordinates (y down, x right, 0-1).

Shapes are boolean masks or soft [0, 1] weights; textures are smooth random fields of unit standard
deviation, so every image of a class is different while its structure stays the class's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Canvas:
    """Pixel-centre coordinates ``yy``, ``xx`` in [0, 1] of a square image of ``size`` pixels."""

    size: int

    @property
    def yy(self) -> np.ndarray:
        return np.linspace(0, 1, self.size, dtype=np.float32)[:, None]

    @property
    def xx(self) -> np.ndarray:
        return np.linspace(0, 1, self.size, dtype=np.float32)[None, :]

    def pixels(self, length: float) -> float:
        """A length in canvas units as pixels."""
        return length * (self.size - 1)


def ellipse(
    canvas: Canvas, center: tuple[float, float], radii: tuple[float, float], angle_deg: float = 0.0
) -> np.ndarray:
    """Normalised squared radius (< 1 inside) of an ellipse centred at (y, x), rotated by ``angle_deg``."""
    dy, dx = canvas.yy - center[0], canvas.xx - center[1]
    if angle_deg:
        c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
        dy, dx = c * dy - s * dx, s * dy + c * dx
    return (dy / radii[0]) ** 2 + (dx / radii[1]) ** 2


def lobulated(
    rng: np.random.Generator,
    canvas: Canvas,
    center: tuple[float, float],
    radii: tuple[float, float],
    amplitude: float = 0.1,
    lobes: tuple[int, int] = (3, 7),
    angle_deg: float = 0.0,
) -> np.ndarray:
    """An ellipse whose radius varies with the polar angle by a few random harmonics: a boolean mask.

    ``amplitude`` is the relative radius variation (0.05: smooth organ, 0.3: nodular or spiculated edge).
    """
    dy, dx = canvas.yy - center[0], canvas.xx - center[1]
    theta = np.arctan2(dy, dx)
    modulation = np.ones_like(theta)
    for _ in range(3):
        k = rng.integers(lobes[0], lobes[1] + 1)
        modulation = modulation + amplitude / 2 * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    return ellipse(canvas, center, radii, angle_deg) < modulation**2


def smooth_noise(rng: np.random.Generator, canvas: Canvas, scale: float) -> np.ndarray:
    """Gaussian noise smoothed over ``scale`` (canvas units), rescaled to zero mean and unit SD."""
    field = ndimage.gaussian_filter(
        rng.standard_normal((canvas.size, canvas.size)).astype(np.float32),
        max(canvas.pixels(scale), 0.5),
        mode="wrap",
    )
    return (field - field.mean()) / (field.std() + 1e-6)


def soften(mask: np.ndarray, canvas: Canvas, width: float = 0.004) -> np.ndarray:
    """A boolean mask as [0, 1] weights with a blurred edge ``width`` wide (partial-volume look)."""
    return np.clip(ndimage.gaussian_filter(mask.astype(np.float32), max(canvas.pixels(width), 0.3)), 0, 1)


def paint(image: np.ndarray, weight: np.ndarray, value: float | np.ndarray) -> np.ndarray:
    """Blend ``value`` into ``image`` where ``weight`` (0-1) says: image * (1 - w) + value * w."""
    return image * (1 - weight) + value * weight


def band(distance: np.ndarray, half_width: float) -> np.ndarray:
    """Weights of a line given by its signed distance field: 1 on the line, 0 beyond ``half_width``."""
    return np.clip(1 - np.abs(distance) / half_width, 0, 1)


def jitter(rng: np.random.Generator, value: float, spread: float) -> float:
    """``value`` times a random factor in [1 - spread, 1 + spread]."""
    return float(value * rng.uniform(1 - spread, 1 + spread))


def acquisition(
    rng: np.random.Generator,
    image: np.ndarray,
    canvas: Canvas,
    noise: float,
    shift: float = 0.02,
    rotation_deg: float = 3.0,
    blur: float = 0.002,
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Positioning (shift, rotation), blur and noise of one acquisition; returns the image and the motion.

    The motion (dy, dx in pixels, angle in degrees) is returned so a lesion mask can be moved alike.
    """
    motion = (
        canvas.pixels(rng.uniform(-shift, shift)),
        canvas.pixels(rng.uniform(-shift, shift)),
        float(rng.uniform(-rotation_deg, rotation_deg)),
    )
    image = move(image, motion, order=1)
    image = ndimage.gaussian_filter(image, max(canvas.pixels(blur), 0.3))
    return image + noise * rng.standard_normal(image.shape).astype(np.float32), motion


def move(image: np.ndarray, motion: tuple[float, float, float], order: int) -> np.ndarray:
    """Rotate about the centre, then shift; ``order`` 0 for masks."""
    dy, dx, angle = motion
    out = ndimage.rotate(image, angle, reshape=False, order=order, mode="nearest")
    return ndimage.shift(out, (dy, dx), order=order, mode="nearest")
