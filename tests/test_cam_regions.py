"""Hot regions of a 2D CAM: bounding boxes and contours of known blobs, in original-image coordinates, and
the localizer's JSON and scores on a classifier whose CAM is known."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from liver3d.cam import CamLocalizer2D, box_iou, hot_regions, mask_box
from liver3d.data import ImageDataset


def test_box_and_contour_of_a_known_blob():
    cam = np.zeros((64, 64), np.float32)
    cam[10:20, 30:45] = 1.0  # rows 10-19, columns 30-44
    cam[40:44, 5:8] = 0.7
    cam[60, 60] = 0.9  # one pixel: below min_area
    regions = hot_regions(cam, threshold=0.5, min_area=4)
    assert len(regions) == 2
    first, second = regions  # strongest peak first
    assert first["bbox_xyxy"] == [30.0, 10.0, 45.0, 20.0]
    assert first["area_px"] == 150.0 and first["peak"] == 1.0
    assert second["bbox_xyxy"] == [5.0, 40.0, 8.0, 44.0] and second["peak"] == pytest.approx(0.7)
    outline = np.asarray(first["contour_xy"])
    assert outline[:, 0].min() >= 30.0 and outline[:, 0].max() <= 45.0
    assert outline[:, 1].min() >= 10.0 and outline[:, 1].max() <= 20.0
    assert outline[:, 0].max() - outline[:, 0].min() >= 14.0  # spans the blob's width
    # a CAM computed on a half-size copy maps back to the original pixels
    scaled = hot_regions(cam, 0.5, 4, scale=(2.0, 2.0))[0]
    assert scaled["bbox_xyxy"] == [60.0, 20.0, 90.0, 40.0] and scaled["area_px"] == 600.0


def test_gaussian_blob_box_matches_its_half_maximum():
    yy, xx = np.mgrid[0:80, 0:80]
    sigma = 5.0
    cam = np.exp(-((yy - 30) ** 2 + (xx - 50) ** 2) / (2 * sigma**2))
    (region,) = hot_regions(cam, threshold=0.5)
    radius = sigma * np.sqrt(2 * np.log(2))  # 5.89 px: where the blob falls to half its peak
    x0, y0, x1, y1 = region["bbox_xyxy"]
    assert x0 == pytest.approx(50 - radius + 0.5, abs=1) and x1 == pytest.approx(50 + radius + 0.5, abs=1)
    assert y0 == pytest.approx(30 - radius + 0.5, abs=1) and y1 == pytest.approx(30 + radius + 0.5, abs=1)
    assert region["peak_xy"] == [50.5, 30.5]


def test_box_iou_and_mask_box():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    mask = np.zeros((20, 20), bool)
    mask[3:7, 12:18] = True
    assert mask_box(mask) == [12.0, 3.0, 18.0, 7.0]
    assert mask_box(np.zeros((4, 4))) is None


class BrightSpotNet(nn.Module):
    """Class 1's logit is the mean of a conv map that copies the input: its Grad-CAM is the bright spot."""

    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(1, 1, 1, bias=False)
        nn.init.ones_(self.features.weight)

    def forward(self, x):
        score = torch.relu(self.features(x)).mean((1, 2, 3))
        return torch.stack([-score, score], 1)


def test_localizer_writes_boxes_in_original_coordinates(tmp_path):
    image = np.zeros((96, 96), np.uint8)
    image[20:40, 50:70] = 255  # the "lesion": columns 50-69, rows 20-39
    mask = (image > 0).astype(np.uint8) * 255
    Image.fromarray(image).save(tmp_path / "img.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    entry = {
        "image": str(tmp_path / "img.png"),
        "label": 1,
        "patient_id": "p",
        "mask": str(tmp_path / "mask.png"),
    }
    from monai.transforms import Compose, Resized, ScaleIntensityd

    pre = Compose([Resized("image", (48, 48), mode="area"), ScaleIntensityd("image")])
    dataset = ImageDataset([entry], preprocessing=pre)
    summary = CamLocalizer2D(
        BrightSpotNet(),
        dataset,
        tmp_path / "out",
        ["normal", "lesion"],
        ["features"],
        threshold=0.5,
        max_figures=1,
    ).run()
    (record,) = json.loads((tmp_path / "out" / "cam_regions.json").read_text(encoding="utf-8"))
    assert record["predicted"] == "lesion" and record["image_size_hw"] == [96, 96]
    assert record["regions"][0]["bbox_xyxy"] == [50.0, 20.0, 70.0, 40.0]  # CAM at 48 px, box at 96 px
    assert record["lesion_box_xyxy"] == [50.0, 20.0, 70.0, 40.0]
    assert record["box_iou"] == 1.0 and record["pointing_hit"] is True
    assert record["cam_mask_iou"] > 0.8
    assert summary["lesion"]["box_iou"] == 1.0 and summary["lesion"]["pointing_accuracy"] == 1.0
    figures = sorted(p.name for p in (tmp_path / "out" / "figures").iterdir())
    assert figures == ["0000_img_boxes.png", "0000_img_layers.png"]
    assert "| lesion | 1 | 1 | 1 | 1.000 | 1.000 |" in (tmp_path / "out" / "cam_localization.md").read_text(
        encoding="utf-8"
    )


def test_localizer_rejects_unknown_layers_and_classes(tmp_path):
    with pytest.raises(KeyError, match="no layer named 'layer9'"):
        CamLocalizer2D(BrightSpotNet(), None, tmp_path, ["a", "b"], ["layer9"])
    with pytest.raises(ValueError, match=r"classes \['c'\] are not among"):
        CamLocalizer2D(BrightSpotNet(), None, tmp_path, ["a", "b"], ["features"], classes=["c"])
