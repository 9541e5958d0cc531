"""The viewer's slice rendering: radiological orientation, square-millimetre pixels, overlays, boxes."""

import numpy as np
import pytest

from liver3d.app.render import (
    compose_slice,
    draw_boxes,
    plane_slice,
    plane_spacing,
    render_volume_slice,
    to_display,
    window_to_grey,
)
from liver3d.labels import load_label_table


def _marked_volume():
    """A RAS volume (X=6, Y=5, Z=4; +x toward the patient's right) with one voxel at the patient's far left
    (x=0), front (y=4) and top (z=3)."""
    volume = np.zeros((6, 5, 4), np.float32)
    volume[0, 4, 3] = 1.0
    return volume


def test_planes_follow_radiological_convention():
    volume = _marked_volume()
    axial = plane_slice(volume, "axial", 3)  # patient's right on the viewer's left, anterior at the top
    assert axial.shape == (5, 6)
    row, col = np.argwhere(axial == 1)[0]
    assert row == 0  # anterior at the top
    assert col == axial.shape[1] - 1  # the patient's left on the viewer's right
    coronal = plane_slice(volume, "coronal", 4)
    row, col = np.argwhere(coronal == 1)[0]
    assert coronal.shape == (4, 6) and row == 0 and col == coronal.shape[1] - 1  # superior at the top
    sagittal = plane_slice(volume, "sagittal", 0)
    row, col = np.argwhere(sagittal == 1)[0]
    assert sagittal.shape == (4, 5) and row == 0 and col == 0  # superior top, anterior left


def test_pixels_are_resampled_to_square_millimetres():
    rgb = np.zeros((10, 40, 3), np.float32)  # a coronal plane of 5 mm slices and 1 mm pixels
    assert plane_spacing((1.0, 1.0, 5.0), "coronal") == (5.0, 1.0)
    out = to_display(rgb, (5.0, 1.0), min_size=100, max_size=1000)
    assert out.dtype == np.uint8 and out.shape[0] == out.shape[1] * 50 // 40  # 50 mm tall, 40 mm wide
    assert to_display(np.zeros((512, 512, 3)), (0.5, 0.5)).shape[:2] == (512, 512)  # native pixels kept
    assert to_display(np.zeros((1024, 1024, 3)), (0.5, 0.5)).shape[:2] == (768, 768)  # capped


def test_window_maps_hu_bounds_to_black_and_white():
    grey = window_to_grey(np.array([[-160.0, 40.0, 240.0]]), "abdomen")
    assert np.allclose(grey, [[0.0, 0.5, 1.0]])
    assert np.allclose(window_to_grey(np.array([[2.0, 4.0]]), None), [[0.0, 1.0]])


def test_overlays_colour_labels_contours_and_cam():
    table = load_label_table()
    label = np.zeros((9, 9), np.uint8)
    label[2:7, 2:7] = table.value("liver")
    label[4, 4] = table.value("tumor")
    grey = np.full((9, 9), 0.5, np.float32)
    filled = compose_slice(grey, label, show_contours=False)
    assert np.allclose(filled[0, 0], 0.5)  # background untouched
    assert not np.allclose(filled[3, 3], 0.5) and not np.allclose(filled[4, 4], filled[3, 3])
    outlined = compose_slice(grey, label, show_label=False)
    liver_colour = np.array(table.by_name("liver").color_float)
    assert np.allclose(outlined[2, 4], liver_colour) and np.allclose(outlined[3, 3], 0.5)
    cam = np.zeros((9, 9), np.float32)
    cam[6:9, 6:9] = 1.0
    heat = compose_slice(grey, None, cam, show_contours=True)
    assert np.allclose(heat[6, 6], 1.0)  # CAM contour in white
    assert not np.allclose(heat[8, 8], 0.5) and np.allclose(heat[0, 0], 0.5)
    assert np.allclose(compose_slice(grey, None, cam, show_cam=False, show_contours=False), grey[..., None])


def test_boxes_are_drawn_on_their_pixel_edges():
    out = draw_boxes(np.zeros((10, 10, 3)), [[2, 3, 6, 8]])
    assert np.allclose(out[3, 2:6], [1, 1, 0]) and np.allclose(out[7, 2:6], [1, 1, 0])
    assert np.allclose(out[5, 3], 0) and np.allclose(out[2, 2], 0)


def test_render_rejects_an_unknown_plane():
    with pytest.raises(ValueError, match="plane must be one of"):
        render_volume_slice(_marked_volume(), (1, 1, 1), "oblique", 0, "liver")
    image = render_volume_slice(_marked_volume(), (1, 1, 1), "axial", 3, (0, 1), label=np.zeros((6, 5, 4)))
    assert image.dtype == np.uint8 and image.ndim == 3


def test_the_largest_lesion_is_found_for_the_go_to_button():
    from liver3d.app.render import largest_lesion_voxel

    label = np.zeros((20, 20, 10), np.uint8)
    label[1:3, 1:3, 1:3] = 2  # small lesion
    label[10:15, 4:9, 6:9] = 2  # large lesion, centre (12, 6, 7)
    assert largest_lesion_voxel(label) == (12, 6, 7)
    assert largest_lesion_voxel(np.ones((4, 4, 4), np.uint8)) is None  # liver only
