"""Geometric primitives for the CT phantoms, evaluated on a patient grid in millimetres.

Patient coordinates are RAS: x grows toward the patient's right, y toward anterior, z toward superior.
The body's axis runs along z through x = y = 0. Fields are computed only inside bounding boxes and by
broadcasting 1D axes, so a 512x512x300 volume costs seconds, not minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class PatientGrid:
    """A voxel grid in RAS patient space: voxel (i, j, k) sits at ``origin + (i, j, k) * spacing`` mm."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    def axis(self, dim: int, sl: slice | None = None) -> np.ndarray:
        """Millimetre coordinates along ``dim`` (optionally within ``sl``), shaped to broadcast in 3D."""
        idx = np.arange(self.shape[dim], dtype=np.float32)
        if sl is not None:
            idx = idx[sl]
        coords = self.origin[dim] + idx * self.spacing[dim]
        shape = [1, 1, 1]
        shape[dim] = coords.size
        return coords.reshape(shape).astype(np.float32)

    def axes(self, box: Box | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        box = box or (slice(None),) * 3
        return self.axis(0, box[0]), self.axis(1, box[1]), self.axis(2, box[2])

    def box(self, lower_mm: tuple[float, float, float], upper_mm: tuple[float, float, float]) -> Box | None:
        """The voxel box covering the mm range ``[lower, upper]``, or None when it misses the grid."""
        slices = []
        for dim in range(3):
            lo = int(np.floor((lower_mm[dim] - self.origin[dim]) / self.spacing[dim]))
            hi = int(np.ceil((upper_mm[dim] - self.origin[dim]) / self.spacing[dim])) + 1
            lo, hi = max(lo, 0), min(hi, self.shape[dim])
            if hi <= lo:
                return None
            slices.append(slice(lo, hi))
        return tuple(slices)  # type: ignore[return-value]

    def box_around(
        self, center: tuple[float, float, float], half_extent: tuple[float, float, float]
    ) -> Box | None:
        lower = tuple(c - h for c, h in zip(center, half_extent))
        upper = tuple(c + h for c, h in zip(center, half_extent))
        return self.box(lower, upper)  # type: ignore[arg-type]

    def to_index(self, point_mm: tuple[float, float, float]) -> tuple[float, float, float]:
        return tuple((p - o) / s for p, o, s in zip(point_mm, self.origin, self.spacing))  # type: ignore[return-value]


def ellipsoid_q(
    axes: tuple[np.ndarray, np.ndarray, np.ndarray],
    center: tuple[float, float, float],
    radii: tuple[float, float, float],
    yaw_deg: float = 0.0,
) -> np.ndarray:
    """Normalised squared radius of an ellipsoid (< 1 inside), optionally rotated about z by ``yaw_deg``."""
    x, y, z = axes
    dx, dy, dz = x - center[0], y - center[1], z - center[2]
    if yaw_deg:
        c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
        dx, dy = c * dx + s * dy, -s * dx + c * dy
    return (dx / radii[0]) ** 2 + (dy / radii[1]) ** 2 + (dz / radii[2]) ** 2


def smooth_union(q1: np.ndarray, q2: np.ndarray, sharpness: float = 6.0) -> np.ndarray:
    """A soft minimum of two implicit fields, so two lobes merge without a crease."""
    return -np.logaddexp(-sharpness * q1, -sharpness * q2) / sharpness


class Wobble:
    """A smooth random field: a sum of a few 3D sinusoids (mm wavelengths), cheap to evaluate anywhere."""

    def __init__(
        self,
        rng: np.random.Generator,
        amplitude: float,
        wavelength_mm: tuple[float, float] = (40.0, 120.0),
        components: int = 5,
    ) -> None:
        directions = rng.normal(size=(components, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        wavelengths = rng.uniform(*wavelength_mm, size=components)
        self.k = (2 * np.pi / wavelengths)[:, None] * directions
        self.phase = rng.uniform(0, 2 * np.pi, size=components)
        self.amplitude = amplitude / np.sqrt(components / 2)

    def __call__(self, axes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """The field on a box given by broadcastable 1D axes (mm).

        The field is smooth on the scale of its shortest wavelength, so on fine grids it is evaluated on
        a coarser lattice (a sixth of that wavelength) and interpolated linearly: same field, a fraction
        of the cost.
        """
        shape = np.broadcast_shapes(*(a.shape for a in axes))
        finest = float(np.min(2 * np.pi / np.linalg.norm(self.k, axis=1)))
        coarse_axes, needs_zoom = [], False
        for dim, a in enumerate(axes):
            flat = a.reshape(-1)
            step = abs(float(flat[1] - flat[0])) if flat.size > 1 else finest
            stride = max(1, int(finest / 6 / step))
            if stride > 1 and flat.size > 2 * stride:
                n = int(np.ceil((flat.size - 1) / stride)) + 1
                flat = np.linspace(flat[0], flat[-1], n, dtype=np.float32)
                needs_zoom = True
            s = [1, 1, 1]
            s[dim] = flat.size
            coarse_axes.append(flat.reshape(s))
        values = self._evaluate(tuple(coarse_axes))
        if needs_zoom:
            factors = [t / c for t, c in zip(shape, values.shape)]
            values = ndimage.zoom(values, factors, order=1, grid_mode=False)
        return np.broadcast_to(values, shape)

    def _evaluate(self, axes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        x, y, z = axes
        total = np.zeros(np.broadcast_shapes(x.shape, y.shape, z.shape), dtype=np.float32)
        for (kx, ky, kz), ph in zip(self.k, self.phase):
            total += np.sin(kx * x + ky * y + kz * z + ph).astype(np.float32)
        return self.amplitude * total


def tube_distance(
    axes: tuple[np.ndarray, np.ndarray, np.ndarray],
    start: np.ndarray,
    end: np.ndarray,
) -> np.ndarray:
    """Distance (mm) from every point to the segment ``start``-``end``."""
    x, y, z = axes
    seg = end - start
    length2 = float(seg @ seg) or 1e-6
    px, py, pz = x - start[0], y - start[1], z - start[2]
    t = np.clip((px * seg[0] + py * seg[1] + pz * seg[2]) / length2, 0.0, 1.0)
    return np.sqrt((px - t * seg[0]) ** 2 + (py - t * seg[1]) ** 2 + (pz - t * seg[2]) ** 2)
