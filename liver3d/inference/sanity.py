"""Plausibility checks around a segmentation run: is the input a CT, and is what was found anatomy?

Each check returns :class:`Caution` items (a code and one sentence) that ``liver3d segment`` prints and the
structured report lists under "Warnings". Nothing is silently dropped or changed: a caution tells the reader
which result not to trust and why.

Input checks (on the volume in HU):

- ``not_ct``: no air near -1000 HU, no negative values, or values beyond the HU range (an MRI, a PET, a
  normalised or rescaled volume). CT of the abdomen always holds air (outside the body, in the lungs or bowel)
  at about -1000 HU and soft tissue at 0-100 HU.

Result checks (on the label map, 0 background, 1 liver, 2 tumor):

- ``no_liver``: less than 100 mL of liver (the field of view holds no liver, or too little to segment);
- ``liver_volume``: a liver that the scan covers whole, smaller than 400 mL or larger than 4500 mL (adult
  livers are about 1000-2500 mL; cirrhotic and enlarged ones stay inside that wide band);
- ``liver_position``: the liver's centre not on the patient's right: with the CT, less than 15 mm to the right
  of the body's centre (real and phantom livers sit 40-75 mm to the right; a "liver" found in a head or a thigh
  sits in the middle), without it, on the left half of the image (a wrong orientation in the header, situs
  inversus, or no liver in the field of view at all);
- ``body_size``: with the CT, the body is narrower than 200 mm from left to right where the liver was found
  (an adult abdomen at the liver's level is about 250-400 mm wide; a thigh or a head 150-200 mm), and the body
  does not reach the image's sides (a field of view that cuts the flanks says nothing about the width): the
  field of view most likely holds no liver. Made for adults, like the volume band above;
- ``lesion_outside_liver``: a "lesion" of more than 1 mL whose border touches liver for less than 30% of its
  surface: most likely a neighbouring organ (heart above the dome, stomach, bowel, kidney) taken for tumor;
- ``lesion_too_large``: a lesion larger than the liver that holds it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from liver3d.geometry import voxel_spacing

LIVER_ML_MIN_PRESENT = 100.0
LIVER_ML_RANGE = (400.0, 4500.0)
LESION_CONTACT_MIN = 0.3
LESION_ML_CHECKED = 1.0


@dataclass(frozen=True)
class Caution:
    """A reason to doubt part of a result: ``code`` (machine-readable) and ``message`` (one sentence)."""

    code: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def check_ct_intensities(hu: np.ndarray) -> list[Caution]:
    """Cautions about an input that does not look like a CT in Hounsfield units."""
    values = np.asarray(hu)
    sample = values.ravel(order="K")[:: max(1, values.size // 2_000_000)].astype(np.float32)
    low, high = float(sample.min()), float(np.percentile(sample, 99.5))
    air = float(np.mean(sample < -850))
    negative = float(np.mean(sample < -200))
    problems = []
    if low > -500 or (air < 0.001 and negative < 0.01):
        problems.append(f"no air near -1000 HU (lowest value {low:.0f})")
    if high > 4000:
        problems.append(f"values up to {high:.0f} at the 99.5th percentile, beyond CT's HU range")
    if not problems:
        return []
    return [
        Caution(
            "not_ct",
            "the input does not look like a CT in Hounsfield units ("
            + "; ".join(problems)
            + "): the model was made for CT and its result is not to be trusted",
        )
    ]


LIVER_RIGHT_OF_BODY_MM = 15.0
ABDOMEN_WIDTH_MIN_MM = 200.0


def check_segmentation(label: np.ndarray, affine: np.ndarray, ct: np.ndarray | None = None) -> list[Caution]:
    """Cautions about the liver and lesions of a label map (X, Y, Z) with its voxel-to-world affine.

    ``ct`` (HU, the same grid and storage order) lets the position check use the body's centre.
    """
    label = np.asarray(label)
    spacing = voxel_spacing(affine)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    liver = label > 0
    liver_ml = float(liver.sum()) * voxel_ml
    cautions: list[Caution] = []
    if liver_ml < LIVER_ML_MIN_PRESENT:
        cautions.append(
            Caution(
                "no_liver",
                f"no liver found in the field of view ({liver_ml:.0f} mL segmented, less than "
                f"{LIVER_ML_MIN_PRESENT:.0f} mL): lesions and volumes in this result are not meaningful",
            )
        )
        return cautions
    cut = _touches_scan_ends(liver)
    if not cut and not LIVER_ML_RANGE[0] <= liver_ml <= LIVER_ML_RANGE[1]:
        cautions.append(
            Caution(
                "liver_volume",
                f"a liver of {liver_ml:.0f} mL is outside the usual {LIVER_ML_RANGE[0]:.0f}-"
                f"{LIVER_ML_RANGE[1]:.0f} mL of an adult liver that the scan covers whole",
            )
        )
    body = None
    if ct is not None and np.shape(ct) == label.shape:
        body = np.asarray(ct)[::2, ::2, ::2] > -300
    width = _body_width_mm(liver, affine, body) if body is not None else None
    if width is not None and width < ABDOMEN_WIDTH_MIN_MM:
        cautions.append(
            Caution(
                "body_size",
                f"the body is only {width:.0f} mm wide where the liver was found (an adult abdomen there is "
                f"250-400 mm): most likely no liver in the field of view (a limb or a head), so the liver and "
                "lesions of this result are not meaningful",
            )
        )
    side = _liver_side_mm(liver, affine, body)
    if side is not None and body is not None and side < LIVER_RIGHT_OF_BODY_MM:
        cautions.append(
            Caution(
                "liver_position",
                f"the liver's centre is {side:+.0f} mm from the body's centre along the patient's right "
                f"(livers sit 40-75 mm to the right): a wrong orientation in the header, a situs inversus, or "
                "no liver in the field of view (an organ of another region taken for liver)",
            )
        )
    elif side is not None and body is None and side < -20.0:
        cautions.append(
            Caution(
                "liver_position",
                f"the liver's centre lies {-side:.0f} mm to the patient's left of the image's centre: check the "
                "orientation in the file's header (or a situs inversus)",
            )
        )
    cautions += _lesion_cautions(label, voxel_ml, liver_ml)
    return cautions


def _touches_scan_ends(mask: np.ndarray) -> bool:
    """True when the mask reaches the first or last slice of any axis (the scan cuts the organ)."""
    for axis in range(3):
        first = np.take(mask, 0, axis=axis)
        last = np.take(mask, mask.shape[axis] - 1, axis=axis)
        if first.any() or last.any():
            return True
    return False


def _body_width_mm(liver: np.ndarray, affine: np.ndarray, body: np.ndarray) -> float | None:
    """Left-right extent (mm) of the largest body component (``body``: a mask on the grid subsampled by 2) over
    the axial slices that hold liver; None when the body reaches the image's left or right side."""
    axes = np.asarray(affine)[:3, :3]
    lr, si = int(np.argmax(np.abs(axes[0]))), int(np.argmax(np.abs(axes[2])))
    if lr == si or not body.any():
        return None
    rows = np.flatnonzero(np.moveaxis(liver, si, 0).reshape(liver.shape[si], -1).any(1)) // 2
    slab = np.take(body, np.arange(rows.min(), min(rows.max() + 1, body.shape[si])), axis=si)
    components, count = ndimage.label(slab)
    if count == 0:
        return None
    largest = components == 1 + int(np.argmax(ndimage.sum_labels(slab, components, np.arange(1, count + 1))))
    extent = np.flatnonzero(np.moveaxis(largest, lr, 0).reshape(largest.shape[lr], -1).any(1))
    if extent[0] == 0 or extent[-1] == largest.shape[lr] - 1:
        return None
    return float((extent[-1] - extent[0] + 1) * 2 * np.linalg.norm(axes[:, lr]))


def _liver_side_mm(liver: np.ndarray, affine: np.ndarray, body: np.ndarray | None = None) -> float | None:
    """World x (RAS, + = patient's right) of the liver's centre minus the body's centre (``body``: a mask on
    the grid subsampled by 2) or the volume's centre, in mm."""
    if not liver.any():
        return None
    centre = np.array(ndimage.center_of_mass(liver))
    if body is not None and body.any():
        middle = np.array(ndimage.center_of_mass(body)) * 2.0
    else:
        middle = (np.array(liver.shape) - 1) / 2.0
    # NIfTI affines (what every liver3d reader returns, DICOM included) map voxels to RAS world mm.
    return float((np.asarray(affine)[:3, :3] @ (centre - middle))[0])


def _lesion_cautions(label: np.ndarray, voxel_ml: float, liver_ml: float) -> list[Caution]:
    tumor = label == 2
    if not tumor.any():
        return []
    components, count = ndimage.label(tumor, structure=np.ones((3, 3, 3)))
    sizes = ndimage.sum_labels(tumor, components, index=np.arange(1, count + 1))
    boxes = ndimage.find_objects(components)
    parenchyma = label == 1
    cautions = []
    for rank, index in enumerate(np.argsort(-sizes), start=1):
        volume = float(sizes[index]) * voxel_ml
        if volume < LESION_ML_CHECKED:
            break
        box = tuple(slice(max(s.start - 2, 0), s.stop + 2) for s in boxes[index])
        local = components[box] == index + 1
        shell = ndimage.binary_dilation(local, structure=np.ones((3, 3, 3))) & ~local
        contact = float(parenchyma[box][shell].mean()) if shell.any() else 0.0
        if volume > liver_ml - volume:
            cautions.append(
                Caution(
                    "lesion_too_large",
                    f"lesion {rank} ({volume:.1f} mL) is larger than the liver parenchyma around it "
                    f"({liver_ml - volume:.0f} mL)",
                )
            )
        elif contact < LESION_CONTACT_MIN:
            cautions.append(
                Caution(
                    "lesion_outside_liver",
                    f"lesion {rank} ({volume:.1f} mL) touches liver on only {100 * contact:.0f}% of its border: "
                    "probably a neighbouring organ (heart, stomach, bowel, kidney) taken for tumor",
                )
            )
    return cautions
