"""Plausibility checks of ``liver3d segment`` (:mod:`liver3d.inference.sanity`) on hand-made volumes."""

import re

import numpy as np
import pytest

from liver3d.inference.sanity import Caution, check_ct_intensities, check_segmentation
from liver3d.phantoms import generate_phantom

# RAS voxel-to-world affine with 2 mm voxels: +x (growing first index) is the patient's right.
RAS_2MM = np.diag([2.0, 2.0, 2.0, 1.0])
VOXEL_ML = 0.008  # 2 x 2 x 2 mm
SHAPE = (100, 100, 100)  # 200 mm in each direction; centre at index 49.5


def _codes(cautions: list[Caution]) -> list[str]:
    return [c.code for c in cautions]


def _label(*boxes: tuple[tuple[slice, slice, slice], int], shape=SHAPE) -> np.ndarray:
    label = np.zeros(shape, np.uint8)
    for box, value in boxes:
        label[box] = value
    return label


# A 1497.6 mL liver (60 x 60 x 52 voxels) on the patient's right, inside the volume on every side.
RIGHT_LIVER = (slice(38, 98), slice(20, 80), slice(24, 76))
LEFT_LIVER = (slice(2, 62), slice(20, 80), slice(24, 76))


# -- input: does it look like a CT in HU? ---------------------------------------------------------------


def test_phantom_ct_raises_no_caution():
    case = generate_phantom(np.random.default_rng(0), shape=(48, 48, 24), n_tumors=1)
    assert case.image.dtype == np.int16 and case.image.min() < -900
    assert check_ct_intensities(case.image) == []


def test_mri_like_volume_is_not_ct():
    mri = np.random.default_rng(1).uniform(0, 800, size=(40, 40, 20)).astype(np.float32)
    cautions = check_ct_intensities(mri)
    assert _codes(cautions) == ["not_ct"]
    assert "does not look like a CT" in cautions[0].message
    assert "no air" in cautions[0].message
    assert cautions[0].as_dict() == {"code": "not_ct", "message": cautions[0].message}


def test_normalised_ct_is_not_ct():
    case = generate_phantom(np.random.default_rng(0), shape=(48, 48, 24), n_tumors=0)
    image = case.image.astype(np.float32)
    scaled = (image - image.min()) / (image.max() - image.min())  # 0..1
    assert _codes(check_ct_intensities(scaled)) == ["not_ct"]


def test_values_far_above_the_hu_range_are_not_ct():
    values = np.full((40, 40, 20), 9000, np.int16)
    values[:, :12] = -1000  # air is there, so only the range is wrong
    cautions = check_ct_intensities(values)
    assert _codes(cautions) == ["not_ct"]
    assert "beyond CT's HU range" in cautions[0].message
    assert "no air" not in cautions[0].message


# -- result: is there a liver, and is it plausible? --------------------------------------------------------


def test_empty_label_has_no_liver():
    cautions = check_segmentation(np.zeros(SHAPE, np.uint8), RAS_2MM)
    assert _codes(cautions) == ["no_liver"]


def test_tiny_liver_counts_as_no_liver_and_stops_the_other_checks():
    # 10 x 10 x 10 voxels = 8 mL, on the patient's left and with an oversized "tumor": only no_liver.
    label = _label(((slice(5, 15), slice(40, 50), slice(40, 50)), 1))
    label[6:14, 41:49, 41:49] = 2
    cautions = check_segmentation(label, RAS_2MM)
    assert _codes(cautions) == ["no_liver"]
    assert "8 mL" in cautions[0].message


def test_plausible_liver_on_the_right_raises_no_caution():
    label = _label((RIGHT_LIVER, 1))
    assert 400 < label.sum() * VOXEL_ML < 4500
    assert check_segmentation(label, RAS_2MM) == []


def test_small_liver_inside_the_volume_is_flagged():
    # 25 x 25 x 40 voxels = 200 mL, on the right, touching no side of the volume.
    label = _label(((slice(60, 85), slice(40, 65), slice(30, 70)), 1))
    cautions = check_segmentation(label, RAS_2MM)
    assert _codes(cautions) == ["liver_volume"]
    assert "200 mL" in cautions[0].message


def test_large_liver_inside_the_volume_is_flagged():
    # 90 x 90 x 70 voxels = 4536 mL.
    label = _label(((slice(5, 95), slice(5, 95), slice(15, 85)), 1))
    assert _codes(check_segmentation(label, RAS_2MM)) == ["liver_volume"]


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_small_liver_cut_by_the_volume_edge_is_not_flagged(axis):
    box = [slice(60, 85), slice(40, 65), slice(30, 70)]
    length = box[axis].stop - box[axis].start
    box[axis] = slice(SHAPE[axis] - length, SHAPE[axis])  # the same 200 mL, touching the last slice
    label = _label((tuple(box), 1))
    assert check_segmentation(label, RAS_2MM) == []


def test_liver_on_the_patients_left_is_flagged():
    label = _label((LEFT_LIVER, 1))
    cautions = check_segmentation(label, RAS_2MM)
    assert _codes(cautions) == ["liver_position"]
    assert "36 mm to the patient's left" in cautions[0].message


def test_liver_position_follows_the_affine_not_the_voxel_index():
    # The same voxels stored with x flipped (LAS): low x index is now the patient's right.
    flipped = np.diag([-2.0, 2.0, 2.0, 1.0])
    assert check_segmentation(_label((LEFT_LIVER, 1)), flipped) == []
    assert _codes(check_segmentation(_label((RIGHT_LIVER, 1)), flipped)) == ["liver_position"]


def test_liver_slightly_left_of_centre_is_not_flagged():
    # Centre 6 mm left of the image's centre: within the 20 mm tolerance.
    label = _label(((slice(15, 79), slice(20, 80), slice(24, 76)), 1))
    assert check_segmentation(label, RAS_2MM) == []


def test_lesion_outside_the_liver_is_flagged():
    label = _label((RIGHT_LIVER, 1))
    # A 9 x 9 x 8 voxel (5.2 mL) blob in the background, one face against the liver's left side.
    label[29:38, 40:49, 40:48] = 2
    cautions = check_segmentation(label, RAS_2MM)
    assert _codes(cautions) == ["lesion_outside_liver"]
    assert "lesion 1 (5.2 mL)" in cautions[0].message


def test_lesion_away_from_the_liver_is_flagged():
    label = _label((RIGHT_LIVER, 1))
    label[10:19, 40:49, 40:48] = 2  # no contact at all
    cautions = check_segmentation(label, RAS_2MM)
    assert _codes(cautions) == ["lesion_outside_liver"]
    assert "0% of its border" in cautions[0].message


def test_lesion_inside_the_liver_is_not_flagged():
    label = _label((RIGHT_LIVER, 1))
    label[60:69, 40:49, 40:48] = 2  # 5.2 mL, surrounded by liver
    assert check_segmentation(label, RAS_2MM) == []


def test_lesion_below_one_ml_is_not_checked():
    label = _label((RIGHT_LIVER, 1))
    label[10:14, 40:44, 40:44] = 2  # 64 voxels = 0.5 mL in the background
    assert check_segmentation(label, RAS_2MM) == []


def test_only_the_lesion_outside_the_liver_is_flagged_and_ranked_by_size():
    label = _label((RIGHT_LIVER, 1))
    label[60:72, 40:52, 40:52] = 2  # 13.8 mL inside the liver: lesion 1
    label[10:19, 40:49, 40:48] = 2  # 5.2 mL in the background: lesion 2
    cautions = check_segmentation(label, RAS_2MM)
    assert _codes(cautions) == ["lesion_outside_liver"]
    assert cautions[0].message.startswith("lesion 2 (5.2 mL)")


def test_lesion_larger_than_its_liver_is_flagged():
    # A 1000 mL tumor (50^3 voxels) wrapped in a 2-voxel rim of liver (260 mL).
    label = _label(((slice(43, 97), slice(23, 77), slice(23, 77)), 1))
    label[45:95, 25:75, 25:75] = 2
    cautions = check_segmentation(label, RAS_2MM)
    assert _codes(cautions) == ["lesion_too_large"]
    assert "1000.0 mL" in cautions[0].message


def test_spacing_comes_from_the_affine():
    # The 200 mL liver of the small-liver test is 1600 mL with 4 mm voxels: plausible.
    label = _label(((slice(60, 85), slice(40, 65), slice(30, 70)), 1))
    assert check_segmentation(label, np.diag([4.0, 4.0, 4.0, 1.0])) == []


def test_with_the_ct_a_liver_in_the_middle_of_the_body_is_doubted():
    """A "liver" centred in the body (a head or a thigh segmented as liver) is flagged; one 50 mm right is not."""
    affine = np.diag([2.0, 2.0, 2.0, 1.0])  # RAS: +x is the patient's right
    ct = np.full((100, 100, 40), -1000, np.int16)
    ct[10:90, 10:90, :] = 40  # the body, centred at x index 49.5
    centred = np.zeros(ct.shape, np.uint8)
    centred[35:65, 35:65, 10:30] = 1
    right = np.zeros(ct.shape, np.uint8)
    right[60:85, 35:65, 10:30] = 1  # centre at index 72: 45 mm to the right
    assert "liver_position" in {c.code for c in check_segmentation(centred, affine, ct)}
    assert "liver_position" not in {c.code for c in check_segmentation(right, affine, ct)}


def _body_ct(width_mm: float, shape=(200, 100, 40), spacing=2.0) -> np.ndarray:
    """Air with an elliptic body ``width_mm`` wide (left-right, first axis) and 140 mm deep, at 40 HU."""
    x = (np.arange(shape[0]) - (shape[0] - 1) / 2) * spacing
    y = (np.arange(shape[1]) - (shape[1] - 1) / 2) * spacing
    inside = (x[:, None] / (width_mm / 2)) ** 2 + (y[None, :] / 70.0) ** 2 < 1
    return np.repeat(np.where(inside, 40.0, -1000.0)[:, :, None], shape[2], axis=2)


@pytest.mark.parametrize(("width", "flagged"), [(160.0, True), (190.0, True), (260.0, False), (340.0, False)])
def test_a_body_narrower_than_an_abdomen_means_no_liver(width, flagged):
    ct = _body_ct(width)
    label = np.zeros(ct.shape, np.uint8)
    label[100:130, 35:65, 5:35] = 1  # 216 mL, 0-60 mm right of the body's centre
    codes = _codes(check_segmentation(label, RAS_2MM, ct))
    assert ("body_size" in codes) is flagged
    if flagged:
        message = next(c.message for c in check_segmentation(label, RAS_2MM, ct) if c.code == "body_size")
        measured = float(re.search(r"only (\d+) mm wide", message).group(1))
        assert "no liver" in message and abs(measured - width) <= 8  # on the 2-voxel subsampled grid


def test_a_body_cut_by_the_field_of_view_is_not_measured():
    ct = _body_ct(500.0)  # wider than the 400 mm image: the flanks are cut, the width is unknown
    label = np.zeros(ct.shape, np.uint8)
    label[100:130, 35:65, 5:35] = 1
    assert "body_size" not in _codes(check_segmentation(label, RAS_2MM, ct))
