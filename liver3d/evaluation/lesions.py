"""Lesion-wise matching of a predicted tumor mask to a reference one, with LiTS's rules.

Lesions are 3D connected components (26-connectivity) of the tumor label. Matching is one-to-one after two
rules, those of the LiTS benchmark's detection evaluation (Bilic et al., MedIA 2023, "Lesion detection"):

- **merged**: a predicted component that overlaps several reference lesions is split among them, each of its
  voxels going to the nearest of those reference lesions (Euclidean distance in mm);
- **split**: the predicted pieces that go to one reference lesion are taken together as one predicted lesion.

After that every reference lesion has at most one predicted lesion (its *match*), and every predicted
component that overlaps no reference lesion is a predicted lesion of its own (a false positive at any
threshold). A reference lesion is *detected* at overlap > 0 when its match exists, and at IoU > t when the
match's IoU with it exceeds t. Counting: TP = detected reference lesions, FN = the others, FP = predicted
lesions minus TP. Per-lesion Dice is the Dice of a reference lesion with its match (0 when missed).

Sizes: the longest axial diameter of the reference lesion (as :func:`liver3d.report.measure.longest_axial_diameter`
measures it, on the axial slice where it is longest), which sorts lesions into the size bands of
:data:`SIZE_BANDS`. Tumor burden is the tumor's share of the liver (tumor / (liver + tumor) voxels), as LiTS
scores it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from liver3d.geometry import to_ras
from liver3d.labels import load_label_table

#: (name, lower mm inclusive, upper mm exclusive) of the longest axial diameter.
SIZE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<10 mm", 0.0, 10.0),
    ("10-20 mm", 10.0, 20.0),
    (">20 mm", 20.0, math.inf),
)
#: Detection criteria: "overlap" (any voxel in common with the match) and IoU above 0.5.
CRITERIA: dict[str, float] = {"overlap": 0.0, "iou50": 0.5}
_STRUCTURE = np.ones((3, 3, 3), dtype=bool)


def size_band(diameter_mm: float) -> str:
    for name, lo, hi in SIZE_BANDS:
        if lo <= diameter_mm < hi:
            return name
    return SIZE_BANDS[-1][0]


@dataclass
class ReferenceLesion:
    """One reference lesion and its match."""

    case_id: str
    lesion: int  # 1-based, largest first
    diameter_mm: float
    size_band: str
    volume_ml: float
    matched_voxels: int  # voxels of its match (0: missed)
    overlap_voxels: int
    iou: float
    dice: float
    predicted_parts: int  # predicted components that contribute to the match (> 1: a split lesion)
    shared_prediction: bool  # its match was cut from a component that also covers another lesion (merged)

    def detected(self, criterion: str) -> bool:
        threshold = CRITERIA[criterion]
        return self.overlap_voxels > 0 if threshold == 0 else self.iou > threshold

    def row(self) -> dict:
        return asdict(self)


@dataclass
class CaseLesions:
    """The lesion-wise result of one case."""

    case_id: str
    references: list[ReferenceLesion]
    unmatched_predictions: int  # predicted components overlapping no reference lesion
    unmatched_volumes_ml: list[float] = field(default_factory=list)
    reference_burden: float = 0.0
    predicted_burden: float = 0.0

    @property
    def predicted_lesions(self) -> int:
        return sum(r.matched_voxels > 0 for r in self.references) + self.unmatched_predictions

    def counts(self, criterion: str) -> tuple[int, int, int]:
        """(TP, FP, FN) under ``criterion`` (a key of :data:`CRITERIA`)."""
        tp = sum(r.detected(criterion) for r in self.references)
        return tp, self.predicted_lesions - tp, len(self.references) - tp

    def row(self) -> dict:
        row: dict = {
            "case_id": self.case_id,
            "reference_lesions": len(self.references),
            "predicted_lesions": self.predicted_lesions,
        }
        for criterion in CRITERIA:
            tp, fp, fn = self.counts(criterion)
            row.update({f"tp_{criterion}": tp, f"fp_{criterion}": fp, f"fn_{criterion}": fn})
        row["reference_burden"] = self.reference_burden
        row["predicted_burden"] = self.predicted_burden
        row["burden_error"] = self.predicted_burden - self.reference_burden
        return row


def components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """3D connected components (26-connectivity), numbered largest first (ties in scan order)."""
    labels, count = ndimage.label(mask, structure=_STRUCTURE)
    if count < 2:
        return labels, int(count)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    order = np.argsort(-sizes, kind="stable")
    remap = np.zeros(count + 1, dtype=labels.dtype)
    remap[order + 1] = np.arange(1, count + 1, dtype=labels.dtype)
    return remap[labels], int(count)


def axial_diameter(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Longest axial diameter (mm) of a 3D mask on a RAS-ordered grid (axis 2 is the axial index)."""
    from liver3d.report.measure import longest_axial_diameter

    zs = np.flatnonzero(mask.any(axis=(0, 1)))
    return max((longest_axial_diameter(mask[:, :, z], (spacing[0], spacing[1])) for z in zs), default=0.0)


def _split_merged(
    piece: np.ndarray, ref_labels: np.ndarray, refs: Sequence[int], spacing: Sequence[float]
) -> dict[int, np.ndarray]:
    """Voxels of one predicted component (``piece``, a box-sized mask) given to the nearest of ``refs``."""
    distances = np.stack(
        [ndimage.distance_transform_edt(ref_labels != r, sampling=spacing) for r in refs]
    )  # (len(refs), *box)
    nearest = np.asarray(refs)[distances.argmin(axis=0)]
    return {int(r): piece & (nearest == r) for r in refs}


def _match_counts(
    ref_box: tuple[slice, ...], ref_mask: np.ndarray, pieces: list[tuple[tuple[slice, ...], np.ndarray]]
) -> tuple[int, int]:
    """(voxels of the match, voxels it shares with the reference lesion), in the box around them all."""
    if not pieces:
        return 0, 0
    boxes = [ref_box] + [b for b, _ in pieces]
    lo = [min(b[a].start for b in boxes) for a in range(3)]
    hi = [max(b[a].stop for b in boxes) for a in range(3)]
    shape = tuple(stop - start for start, stop in zip(lo, hi))

    def local(b: tuple[slice, ...]) -> tuple[slice, ...]:
        return tuple(slice(b[a].start - lo[a], b[a].stop - lo[a]) for a in range(3))

    match = np.zeros(shape, dtype=bool)
    for piece_box, piece in pieces:
        match[local(piece_box)] |= piece
    reference = np.zeros(shape, dtype=bool)
    reference[local(ref_box)] = ref_mask
    return int(match.sum()), int((match & reference).sum())


def match_lesions(
    pred_tumor: np.ndarray,
    ref_tumor: np.ndarray,
    spacing: Sequence[float],
    case_id: str = "",
) -> CaseLesions:
    """Match the lesions of two boolean tumor masks on one RAS-ordered grid (``spacing`` in mm)."""
    pred_tumor, ref_tumor = np.asarray(pred_tumor, bool), np.asarray(ref_tumor, bool)
    if pred_tumor.shape != ref_tumor.shape:
        raise ValueError(f"{case_id}: prediction {pred_tumor.shape} and reference {ref_tumor.shape} differ")
    voxel_ml = float(np.prod(spacing)) / 1000.0
    ref_labels, n_ref = components(ref_tumor)
    pred_labels, n_pred = components(pred_tumor)
    pred_boxes = ndimage.find_objects(pred_labels)
    ref_boxes = ndimage.find_objects(ref_labels)
    both = (ref_labels > 0) & (pred_labels > 0)
    pairs = (
        np.unique(np.stack([pred_labels[both], ref_labels[both]]), axis=1) if both.any() else np.zeros((2, 0))
    )
    refs_of: dict[int, list[int]] = {}
    for p, r in pairs.T.astype(int):
        refs_of.setdefault(int(p), []).append(int(r))

    # Matches, kept as (box, mask) pieces per reference lesion so nothing grows to the volume's size.
    pieces: dict[int, list[tuple[tuple[slice, ...], np.ndarray]]] = {r: [] for r in range(1, n_ref + 1)}
    shared: set[int] = set()
    unmatched_volumes = []
    for p in range(1, n_pred + 1):
        box = pred_boxes[p - 1]
        refs = refs_of.get(p, [])
        if not refs:
            unmatched_volumes.append(float((pred_labels[box] == p).sum()) * voxel_ml)
            continue
        if len(refs) == 1:
            pieces[refs[0]].append((box, pred_labels[box] == p))
            continue
        # A merged prediction: work in the box around it and the lesions it covers.
        lo = [min([box[a].start] + [ref_boxes[r - 1][a].start for r in refs]) for a in range(3)]
        hi = [max([box[a].stop] + [ref_boxes[r - 1][a].stop for r in refs]) for a in range(3)]
        big = tuple(slice(a, b) for a, b in zip(lo, hi))
        parts = _split_merged(pred_labels[big] == p, ref_labels[big], refs, spacing)
        for r, part in parts.items():
            pieces[r].append((big, part))
        shared.update(refs)

    references = []
    for r in range(1, n_ref + 1):
        box = ref_boxes[r - 1]
        ref_mask = ref_labels[box] == r
        matched, overlap = _match_counts(box, ref_mask, pieces[r])
        ref_voxels = int(ref_mask.sum())
        union = ref_voxels + matched - overlap
        iou = overlap / union if union else 0.0
        dice = 2.0 * overlap / (ref_voxels + matched) if (ref_voxels + matched) else 0.0
        diameter = axial_diameter(ref_mask, spacing)
        references.append(
            ReferenceLesion(
                case_id=case_id,
                lesion=r,
                diameter_mm=round(float(diameter), 2),
                size_band=size_band(diameter),
                volume_ml=ref_voxels * voxel_ml,
                matched_voxels=matched,
                overlap_voxels=overlap,
                iou=float(iou),
                dice=float(dice),
                predicted_parts=len(pieces[r]),
                shared_prediction=r in shared,
            )
        )
    return CaseLesions(
        case_id=case_id,
        references=references,
        unmatched_predictions=len(unmatched_volumes),
        unmatched_volumes_ml=unmatched_volumes,
    )


def tumor_burden(label: np.ndarray) -> float:
    """Tumor volume over liver volume (liver including tumor) of a label map; 0 without liver."""
    table = load_label_table()
    liver, tumor = table.value("liver"), table.value("tumor")
    tumor_voxels = int((label == tumor).sum())
    liver_voxels = int((label == liver).sum()) + tumor_voxels
    return tumor_voxels / liver_voxels if liver_voxels else 0.0


def score_case_lesions(
    pred: np.ndarray, ref: np.ndarray, affine: np.ndarray, case_id: str = ""
) -> CaseLesions:
    """Lesion-wise scores of a predicted label map against a reference one, both on the grid of ``affine``."""
    pred, ref = np.asarray(pred), np.asarray(ref)
    if pred.ndim == 4:
        pred = pred[0]
    if ref.ndim == 4:
        ref = ref[0]
    tumor = load_label_table().value("tumor")
    pred_ras, spacing = to_ras(pred, affine)
    ref_ras, _ = to_ras(ref, affine)
    result = match_lesions(pred_ras == tumor, ref_ras == tumor, spacing, case_id)
    result.reference_burden = tumor_burden(ref_ras)
    result.predicted_burden = tumor_burden(pred_ras)
    return result


def threshold_matches(
    tumor_probability: np.ndarray,
    ref: np.ndarray,
    affine: np.ndarray,
    thresholds: Sequence[float],
    case_id: str = "",
) -> dict[float, CaseLesions]:
    """Lesion matches of the tumor probability map thresholded at each of ``thresholds`` (for the FROC)."""
    tumor = load_label_table().value("tumor")
    prob_ras, spacing = to_ras(np.asarray(tumor_probability, dtype=np.float32), affine)
    ref_ras, _ = to_ras(np.asarray(ref), affine)
    ref_tumor = ref_ras == tumor
    return {float(t): match_lesions(prob_ras >= t, ref_tumor, spacing, case_id) for t in thresholds}
