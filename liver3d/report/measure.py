"""Measurements of a liver/tumor label map, every number traceable to voxels.

Conventions: the label map is reordered to RAS (axis 2 runs inferior -> superior, so an *axial* slice is a fixed
index on axis 2); lesions are 3D connected components of the tumor label (26-connectivity); volumes are voxel
counts times the voxel volume; the longest axial diameter is measured as a radiologist does, on the axial slice
where the lesion is longest, between the outer edges of its pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from liver3d.geometry import ras_affine, to_ras
from liver3d.labels import load_label_table


@dataclass
class Lesion:
    index: int  # 1 = largest
    voxels: int
    volume_ml: float
    longest_axial_diameter_mm: float
    diameter_slice: int  # RAS axial index where the longest diameter lies
    centroid_voxel_ras: list[float]
    centroid_mm: list[float]  # world (scanner) coordinates, RAS mm
    slice_range: list[int]  # first and last RAS axial index holding the lesion
    slice_range_mm: list[float]  # their superior-inferior (S) coordinates
    position_in_liver: dict[
        str, float
    ]  # 0..1 along the liver's extent: right->left, anterior->posterior, top->bottom
    mean_hu: float | None = None
    std_hu: float | None = None


@dataclass
class LiverReport:
    source: str
    shape: list[int]
    spacing_mm: list[float]
    voxel_volume_ml: float
    liver_voxels: int
    liver_volume_ml: float  # whole organ: parenchyma + lesions
    parenchyma_volume_ml: float
    tumor_volume_ml: float
    tumor_burden_percent: float
    lesion_count: int
    lesions: list[Lesion] = field(default_factory=list)
    liver_mean_hu: float | None = None
    liver_std_hu: float | None = None
    image: str | None = None
    warnings: list[dict] = field(default_factory=list)  # {"code", "message"}: reasons to doubt the result

    def to_dict(self) -> dict:
        return asdict(self)


def longest_axial_diameter(mask_2d: np.ndarray, spacing_xy: tuple[float, float]) -> float:
    """Longest in-plane extent (mm) of a 2D mask: farthest pixel centres plus one pixel along that line."""
    points = np.argwhere(mask_2d) * np.asarray(spacing_xy, dtype=float)
    if len(points) == 0:
        return 0.0
    if len(points) >= 3:
        try:
            points = points[ConvexHull(points).vertices]
        except QhullError:  # collinear pixels: keep them all
            pass
    diff = points[:, None, :] - points[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))
    i, j = np.unravel_index(int(dist.argmax()), dist.shape)
    length = float(dist[i, j])
    if length == 0:
        return float(max(spacing_xy))
    ux, uy = np.abs(diff[i, j]) / length
    return length + ux * spacing_xy[0] + uy * spacing_xy[1]


def measure(
    label: np.ndarray,
    affine: np.ndarray,
    image: np.ndarray | None = None,
    source: str = "",
    image_source: str | None = None,
) -> LiverReport:
    """Measure liver and lesions in ``label`` (any storage order; ``affine`` voxel -> RAS mm).

    ``image`` (HU, same grid) adds mean and standard deviation of HU for the parenchyma and every lesion.
    """
    table = load_label_table()
    liver_value, tumor_value = table.value("liver"), table.value("tumor")
    label = np.asarray(label)
    if label.ndim != 3:
        raise ValueError(f"{source}: expected a 3D label map, got shape {label.shape}")
    if image is not None and np.asarray(image).shape != label.shape:
        raise ValueError(
            f"{image_source}: image shape {np.asarray(image).shape} differs from the label's {label.shape}"
        )
    lab, spacing = to_ras(label, affine)
    affine_ras = ras_affine(affine, label.shape)
    # Everything below works in the labels' bounding box (RAS indices offset by ``origin``): a liver fills a
    # fraction of a 512x512x300 CT, and the components, masks and HU statistics cost what the box holds.
    labelled = ndimage.find_objects((lab > 0).astype(np.uint8))
    crop = labelled[0] if labelled and labelled[0] is not None else tuple(slice(0, n) for n in lab.shape)
    origin = np.array([sl.start for sl in crop])
    lab = lab[crop]
    hu = to_ras(np.asarray(image, dtype=np.float32), affine)[0][crop] if image is not None else None
    voxel_ml = float(np.prod(spacing)) / 1000.0
    liver = (lab == liver_value) | (lab == tumor_value)
    parenchyma = lab == liver_value
    tumor = lab == tumor_value
    components, count = ndimage.label(tumor, structure=np.ones((3, 3, 3), bool))
    sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
    order = np.argsort(-sizes, kind="stable")
    extent = (
        [(lo + int(o), hi + int(o)) for (lo, hi), o in zip(_extent(liver), origin)]
        if liver.any()
        else [(0, max(n - 1, 0)) for n in label_ras_shape(label, affine)]
    )
    boxes = ndimage.find_objects(components)
    lesions = []
    for rank, comp in enumerate(order, start=1):
        box = boxes[comp]  # each lesion is measured in its own bounding box: cost grows with its size only
        mask = components[box] == comp + 1
        offset = origin + np.array([sl.start for sl in box])
        local_hu = hu[box] if hu is not None else None
        lesions.append(_lesion(rank, mask, offset, spacing, affine_ras, extent, local_hu, voxel_ml))
    liver_ml = float(liver.sum()) * voxel_ml
    tumor_ml = float(tumor.sum()) * voxel_ml
    report = LiverReport(
        source=source,
        image=image_source,
        shape=[int(s) for s in label.shape],
        spacing_mm=[round(float(s), 4) for s in spacing],
        voxel_volume_ml=voxel_ml,
        liver_voxels=int(liver.sum()),
        liver_volume_ml=liver_ml,
        parenchyma_volume_ml=float(parenchyma.sum()) * voxel_ml,
        tumor_volume_ml=tumor_ml,
        tumor_burden_percent=100.0 * tumor_ml / liver_ml if liver_ml > 0 else 0.0,
        lesion_count=int(count),
        lesions=lesions,
    )
    if hu is not None and parenchyma.any():
        report.liver_mean_hu = float(hu[parenchyma].mean())
        report.liver_std_hu = float(hu[parenchyma].std())
    return report


def label_ras_shape(label: np.ndarray, affine: np.ndarray) -> tuple[int, ...]:
    """The label map's shape once its axes are in RAS order."""
    order = np.argsort(nib_orientation(affine)[:, 0])
    return tuple(int(label.shape[a]) for a in order)


def nib_orientation(affine: np.ndarray) -> np.ndarray:
    import nibabel as nib

    return nib.orientations.io_orientation(affine)


def _extent(mask: np.ndarray) -> list[tuple[int, int]]:
    """First and last index holding the mask along each axis (the whole axis for an empty mask)."""
    extent = []
    for axis in range(3):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        extent.append((int(hits[0]), int(hits[-1])) if hits.size else (0, max(mask.shape[axis] - 1, 0)))
    return extent


def _lesion(rank, mask, offset, spacing, affine_ras, liver_extent, hu, voxel_ml) -> Lesion:
    """One lesion from its mask in a bounding box whose first voxel is ``offset`` (RAS indices)."""
    local_zs = np.flatnonzero(mask.any(axis=(0, 1)))
    diameters = [longest_axial_diameter(mask[:, :, z], (spacing[0], spacing[1])) for z in local_zs]
    best = int(np.argmax(diameters))
    zs = local_zs + int(offset[2])
    centroid = np.array(ndimage.center_of_mass(mask)) + offset
    world = affine_ras @ np.append(centroid, 1.0)
    s_coords = [float((affine_ras @ np.array([0, 0, z, 1.0]))[2]) for z in (zs[0], zs[-1])]
    position = {}
    # RAS indices grow toward the patient's right, anterior and superior: count from the high end.
    for name, axis in (("right_to_left", 0), ("anterior_to_posterior", 1), ("top_to_bottom", 2)):
        lo, hi = liver_extent[axis]
        position[name] = round(float((hi - centroid[axis]) / max(hi - lo, 1)), 3)
    lesion = Lesion(
        index=rank,
        voxels=int(mask.sum()),
        volume_ml=float(mask.sum()) * voxel_ml,
        longest_axial_diameter_mm=round(float(diameters[best]), 2),
        diameter_slice=int(zs[best]),
        centroid_voxel_ras=[round(float(c), 2) for c in centroid],
        centroid_mm=[round(float(c), 2) for c in world[:3]],
        slice_range=[int(zs[0]), int(zs[-1])],
        slice_range_mm=[round(s, 2) for s in s_coords],
        position_in_liver=position,
    )
    if hu is not None:
        lesion.mean_hu = float(hu[mask].mean())
        lesion.std_hu = float(hu[mask].std())
    return lesion
