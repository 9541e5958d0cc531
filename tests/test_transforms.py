import json
import warnings

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, EnsureChannelFirstd, Invertd

from liver3d.io.nifti import save_nifti
from liver3d.io.readers import VolumeError
from liver3d.transforms import (
    BalancedPatchd,
    LiverROICropd,
    LoadVolumed,
    MaskOutsideLiverd,
    ValidateCTd,
    VolumeToSlices,
    VolumeToSlicesd,
    ct_preprocessing,
    geometry_transforms,
    slice_labels,
    stack_slices,
)


@pytest.fixture(scope="module")
def entry(phantom_dir):
    data = json.loads((phantom_dir / "dataset.json").read_text(encoding="utf-8"))
    tumor_case = next(e for e in data["training"] if e["has_tumor"])
    return {"image": str(phantom_dir / tumor_case["image"]), "label": str(phantom_dir / tumor_case["label"])}


def test_resample_then_invert_returns_original_shape_and_affine(entry):
    pre = ct_preprocessing(pixdim=(2.5, 2.5, 3.0), window="liver")
    d = pre(dict(entry))
    assert np.allclose(d["image"].pixdim[:3], (2.5, 2.5, 3.0))
    assert "".join(nib.aff2axcodes(np.asarray(d["image"].affine))) == "RAS"
    d["pred"] = d["label"].clone()
    out = Invertd(keys="pred", transform=pre, orig_keys="image", nearest_interp=True)(d)
    ref = nib.load(entry["label"])
    assert tuple(out["pred"].shape[1:]) == ref.shape
    assert np.allclose(np.asarray(out["pred"].affine), ref.affine, atol=1e-4)
    # Labels survive the round trip on all but a thin boundary layer.
    agreement = (out["pred"][0].numpy() == np.asarray(ref.dataobj)).mean()
    assert agreement > 0.97


def test_reorientation_alone_is_lossless(entry):
    pre = Compose(
        [
            LoadVolumed(["image", "label"]),
            EnsureChannelFirstd(["image", "label"]),
            *geometry_transforms(pixdim=nib.load(entry["image"]).header.get_zooms()[:3])[:1],
        ]
    )
    d = pre(dict(entry))
    d["pred"] = d["label"].clone()
    out = Invertd(keys="pred", transform=pre, orig_keys="label")(d)
    assert np.array_equal(
        out["pred"][0].numpy().astype(np.uint8), np.asarray(nib.load(entry["label"]).dataobj)
    )


def test_slice_labels_follow_tumor_over_liver_over_background():
    lab = torch.zeros(1, 6, 6, 5, dtype=torch.uint8)
    lab[0, 1:3, 1:3, 1] = 1
    lab[0, 1:3, 1:3, 2] = 1
    lab[0, 4, 4, 2] = 2
    lab[0, 0, 0, 3] = 2
    assert slice_labels(lab).tolist() == [0, 1, 2, 2, 0]
    assert slice_labels(lab, min_pixels=2).tolist() == [0, 1, 1, 0, 0]


def test_slices_carry_neighbours_and_indices():
    vol = torch.arange(5, dtype=torch.float32).reshape(1, 1, 1, 5).expand(1, 4, 4, 5).clone()
    out = VolumeToSlices(context=3)(vol)
    assert out["image"].shape == (5, 3, 4, 4)
    assert out["image"][0, :, 0, 0].tolist() == [0, 0, 1]  # edge slice repeated
    assert out["image"][2, :, 0, 0].tolist() == [1, 2, 3]
    assert out["image"][4, :, 0, 0].tolist() == [3, 4, 4]
    assert out["slice_index"].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="odd"):
        VolumeToSlices(context=2)


def test_slices_stack_back_into_the_volume(entry):
    d = ct_preprocessing(pixdim=None, window="liver")(dict(entry))
    slices = VolumeToSlicesd(context=1)(d)
    assert len(slices) == d["image"].shape[-1]
    assert {s["slice_label"] for s in slices} == {0, 1, 2}
    assert all("volume_affine" in s and s["volume_shape"] == tuple(d["image"].shape[1:]) for s in slices)
    rebuilt = stack_slices(
        [s["image"] for s in slices], [s["slice_index"] for s in slices], depth=len(slices)
    )
    assert torch.equal(rebuilt, d["image"].as_tensor())
    seg = stack_slices([s["seg"][0] for s in slices], [s["slice_index"] for s in slices], depth=len(slices))
    assert torch.equal(seg, d["label"][0].as_tensor())
    # Slice labels agree with the label map, by the rule.
    for s in slices:
        values = set(torch.unique(s["seg"]).tolist())
        expected = 2 if 2 in values else 1 if 1 in values else 0
        assert s["slice_label"] == expected


def test_liver_roi_contains_the_liver_with_a_margin_in_mm(entry):
    d = ct_preprocessing(pixdim=None, window=None)(dict(entry))
    roi = LiverROICropd(["image", "label"], margin_mm=10)
    cropped = roi(d)
    assert int((cropped["label"] > 0).sum()) == int((d["label"] > 0).sum())
    spacing = np.asarray(d["image"].pixdim[:3], dtype=float)
    fg = np.argwhere(d["label"][0].numpy() > 0)
    margin = np.ceil(10 / spacing).astype(int)
    full = np.array(d["image"].shape[1:])
    lower = np.maximum(fg.min(0) - margin, 0)
    upper = np.minimum(fg.max(0) + 1 + margin, full)
    assert tuple(cropped["image"].shape[1:]) == tuple(upper - lower)
    assert np.prod(cropped["image"].shape[1:]) < np.prod(full)
    # Inverse puts it back on the full grid.
    inv = cropped["label"].clone()
    restored = roi.inverse({"image": cropped["image"], "label": inv})["label"]
    assert tuple(restored.shape) == tuple(d["label"].shape)
    assert torch.equal(restored.as_tensor(), d["label"].as_tensor())


def test_liver_roi_without_liver_keeps_the_whole_volume():
    img = MetaTensor(torch.randn(1, 8, 8, 8))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        out = LiverROICropd(["image"], source_key="pred")({"image": img, "pred": torch.zeros(1, 8, 8, 8)})
    assert out["image"].shape == (1, 8, 8, 8)


def test_liver_roi_without_its_mask_names_the_image():
    from liver3d.errors import InputError

    img = MetaTensor(torch.randn(1, 8, 8, 8), meta={"filename_or_obj": "/data/ct.nii.gz"})
    crop = LiverROICropd(["image", "label"], source_key="label", allow_missing_keys=True)
    with pytest.raises(InputError, match=r"^/data/ct.nii.gz: no liver mask under 'label'"):
        crop({"image": img})


def test_mask_outside_liver_keeps_the_liver_and_a_rim_in_mm_on_anisotropic_voxels():
    label = torch.zeros(1, 30, 30, 12)
    label[0, 10:20, 10:20, 5:7] = 1
    label[0, 14:16, 14:16, 6] = 2  # a lesion is liver for the mask
    affine = torch.diag(torch.tensor([1.0, 1.0, 4.0, 1.0]))
    image = MetaTensor(torch.rand(1, 30, 30, 12) + 0.5, affine=affine)
    sample = {"image": image, "label": MetaTensor(label, affine=affine)}
    out = MaskOutsideLiverd("image", margin_mm=4)(sample)
    kept = out["image"][0] > 0
    assert np.array_equal(MaskOutsideLiverd("image", margin_mm=4).kept(sample), kept.numpy())  # what it shows
    assert torch.equal(sample["image"], image)  # and kept() changes nothing
    from scipy import ndimage

    whole = ndimage.distance_transform_edt(label[0].numpy() == 0, sampling=(1.0, 1.0, 4.0)) <= 4
    assert np.array_equal(kept.numpy(), whole)  # the distance in the liver's box is the distance everywhere
    assert torch.equal(out["image"].affine, image.affine)  # the grid is untouched: the CAMs invert as before
    assert torch.equal(out["image"][0][kept], image[0][kept])  # what is kept is untouched
    assert bool(kept[10:20, 10:20, 5:7].all())
    assert bool(kept[6, 15, 6]) and not bool(kept[5, 15, 6])  # 4 mm rim in-plane: 4 voxels of 1 mm, not 5
    assert bool(kept[15, 15, 4]) and bool(kept[15, 15, 7]) and not bool(kept[15, 15, 3])  # one 4 mm slice
    assert int(kept.sum()) < kept.numel() // 4


def test_mask_outside_liver_blanks_a_slice_range_without_liver_and_needs_its_mask():
    from liver3d.errors import InputError

    image = MetaTensor(torch.ones(1, 8, 8, 8), meta={"filename_or_obj": "/data/ct.nii.gz"})
    with pytest.warns(UserWarning, match="no liver voxels in the mask"):
        out = MaskOutsideLiverd("image", fill=-1.0)({"image": image, "label": torch.zeros(1, 8, 8, 8)})
    assert bool((out["image"] == -1).all())
    with pytest.raises(InputError, match=r"^/data/ct.nii.gz: liver mask has 3 channels"):
        MaskOutsideLiverd("image")({"image": image, "label": torch.zeros(3, 8, 8, 8)})
    with pytest.raises(InputError, match=r"^/data/ct.nii.gz: no liver mask under 'label'"):
        MaskOutsideLiverd("image")({"image": image})
    with pytest.raises(InputError, match=r"^/data/ct.nii.gz: image grid \(8, 8, 8\) differs"):
        MaskOutsideLiverd("image")({"image": image, "label": torch.zeros(1, 8, 8, 4)})


def test_balanced_patches_center_on_tumor_far_more_than_chance(entry):
    d = ct_preprocessing(pixdim=None, window=None)(dict(entry))
    tumor_fraction = float((d["label"] == 2).float().mean())
    sampler = BalancedPatchd(["image", "label"], spatial_size=(15, 15, 7), num_samples=60)
    sampler.set_random_state(0)
    patches = sampler(d)
    assert len(patches) == 60 and patches[0]["image"].shape == (1, 15, 15, 7)
    centre_tumor = np.mean([int(p["label"][0, 7, 7, 3] == 2) for p in patches])
    assert 0.15 < centre_tumor < 0.55
    assert centre_tumor > 10 * tumor_fraction


def test_validate_rejects_mismatched_geometry_and_bad_labels():
    affine = torch.eye(4, dtype=torch.float64)
    img = MetaTensor(torch.zeros(1, 4, 4, 4), affine=affine, meta={"filename_or_obj": "ct.nii.gz"})
    lab = MetaTensor(torch.ones(1, 4, 4, 4), affine=affine, meta={"filename_or_obj": "seg.nii.gz"})
    ValidateCTd()({"image": img, "label": lab})
    shifted = affine.clone()
    shifted[0, 3] = 3
    with pytest.raises(VolumeError, match=r"seg\.nii\.gz: label geometry differs"):
        ValidateCTd()(
            {
                "image": img,
                "label": MetaTensor(lab.as_tensor(), affine=shifted, meta={"filename_or_obj": "seg.nii.gz"}),
            }
        )
    with pytest.raises(VolumeError, match=r"seg\.nii\.gz: label values \[5\]"):
        ValidateCTd()(
            {
                "image": img,
                "label": MetaTensor(
                    torch.full((1, 4, 4, 4), 5.0), affine=affine, meta={"filename_or_obj": "seg.nii.gz"}
                ),
            }
        )
    with pytest.raises(VolumeError, match="empty"):
        ValidateCTd()(
            {
                "image": img,
                "label": MetaTensor(
                    torch.zeros(1, 4, 4, 4), affine=affine, meta={"filename_or_obj": "seg.nii.gz"}
                ),
            }
        )
    with pytest.raises(VolumeError, match="does not match image shape"):
        ValidateCTd()(
            {
                "image": img,
                "label": MetaTensor(
                    torch.ones(1, 4, 4, 3), affine=affine, meta={"filename_or_obj": "seg.nii.gz"}
                ),
            }
        )
    nan_img = img.clone()
    nan_img[0, 0, 0, 0] = float("nan")
    with pytest.raises(VolumeError, match=r"ct\.nii\.gz: 1 NaN"):
        ValidateCTd(label_key=None)({"image": nan_img})


def test_pipeline_names_a_4d_file(entry, tmp_path):
    ref = nib.load(entry["image"])
    arr = np.asarray(ref.dataobj)
    path = tmp_path / "fourd.nii.gz"
    save_nifti(np.stack([arr, arr], -1), ref.affine, path)
    with pytest.raises(RuntimeError) as info:
        ct_preprocessing(keys=["image"])({"image": str(path)})
    assert "fourd.nii.gz: 4D image" in str(info.value.__cause__)


def test_pipeline_names_a_truncated_file(entry, tmp_path):
    path = tmp_path / "cut.nii.gz"
    data = open(entry["image"], "rb").read()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError) as info:
        ct_preprocessing(keys=["image"])({"image": str(path)})
    assert isinstance(info.value.__cause__, VolumeError)
    assert "cut.nii.gz: truncated or corrupt gzip" in str(info.value.__cause__)


def test_fast_label_resampling_matches_monai_invertd(entry):
    from liver3d.transforms import ResampleToInputd

    pre = ct_preprocessing(keys=["image", "label"], pixdim=(4.0, 5.0, 7.0), window=None)
    d = pre(dict(entry))
    d["pred"] = d["label"].clone()
    fast = ResampleToInputd("pred", ref_key="image")(dict(d))["pred"]
    slow = Invertd("pred", transform=pre, orig_keys="label", nearest_interp=True)(dict(d))["pred"]
    ref = nib.load(entry["label"])
    assert tuple(fast.shape[1:]) == ref.shape
    assert np.allclose(np.asarray(fast.affine), ref.affine, atol=1e-5)
    assert (fast[0].numpy() == slow[0].numpy().round()).mean() > 0.995


def test_fast_label_resampling_handles_flips_permutations_and_oblique_grids():
    from liver3d.transforms import resample_labels_nearest

    labels = torch.arange(24, dtype=torch.uint8).reshape(1, 2, 3, 4)
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = 1.0  # voxel i of the target is voxel 1 - i of the source
    out = resample_labels_nearest(labels, np.eye(4), flip, (2, 3, 4))
    assert torch.equal(out, labels.flip(1))
    swap = np.eye(4)[[1, 0, 2, 3]]  # target axis 0 is source axis 1
    out = resample_labels_nearest(labels, np.eye(4), swap, (3, 2, 4))
    assert torch.equal(out, labels.permute(0, 2, 1, 3))
    outside = np.eye(4)
    outside[0, 3] = 5.0
    assert int(resample_labels_nearest(labels, np.eye(4), outside, (2, 3, 4)).sum()) == 0
    angle = np.radians(30)
    oblique = np.eye(4)
    oblique[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    out = resample_labels_nearest(labels, np.eye(4), oblique, (2, 3, 4))
    assert out.shape == (1, 2, 3, 4) and out[0, 0, 0, 0] == labels[0, 0, 0, 0]


def test_channel_argmax_matches_torch_argmax_and_keeps_meta():
    from liver3d.transforms import ChannelArgmaxd

    scores = MetaTensor(torch.rand(3, 7, 6, 5), affine=torch.diag(torch.tensor([2.0, 2.0, 3.0, 1.0])))
    scores[:, 0, 0, 0] = torch.tensor([0.5, 0.5, 0.1])  # a tie goes to the lower channel, as argmax does
    out = ChannelArgmaxd("pred")({"pred": scores})["pred"]
    assert out.dtype == torch.uint8 and out.shape == (1, 7, 6, 5)
    assert torch.equal(out.as_tensor().long(), scores.as_tensor().argmax(0, keepdim=True))
    assert torch.equal(out.affine, scores.affine)


def test_voxel_spacing_and_margins_from_affines():
    from liver3d.geometry import margin_voxels, voxel_spacing

    affine = torch.tensor(
        [[0.0, -0.8, 0, 0], [0.7, 0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1]], dtype=torch.float64
    )
    assert np.allclose(voxel_spacing(affine), [0.7, 0.8, 3.0])
    assert np.allclose(
        voxel_spacing(MetaTensor(torch.zeros(2, 1, 2, 2, 2), affine=affine.expand(2, 4, 4))), [0.7, 0.8, 3.0]
    )
    assert voxel_spacing(None) == [1.0, 1.0, 1.0]
    assert margin_voxels(10, [0.7, 0.8, 3.0]) == [15, 13, 4]
    assert margin_voxels([1, 2, 3], [1, 1, 1]) == [1, 2, 3]
    assert margin_voxels(15, [2.4999999, 2.5000001, 4.0]) == [6, 6, 4]  # float noise from resampling
    assert voxel_spacing(torch.zeros(1, 1, 8, 8, 8)) == [1.0, 1.0, 1.0]  # no affine: 1 mm


def test_liver_roi_crop_is_thread_safe_across_spacings():
    """CacheDataset fills its cache in threads; each case must get its own margin, whatever runs beside it."""
    from concurrent.futures import ThreadPoolExecutor

    from liver3d.transforms import LiverROICropd

    def case(spacing: float) -> dict:
        label = torch.zeros(1, 40, 40, 40)
        label[:, 18:22, 18:22, 18:22] = 1
        affine = torch.diag(torch.tensor([spacing, spacing, spacing, 1.0]))
        return {"image": MetaTensor(label.clone(), affine=affine), "label": MetaTensor(label, affine=affine)}

    crop = LiverROICropd(keys=["image", "label"], source_key="label", margin_mm=6.0)
    expected = {s: tuple(crop(case(s))["image"].shape) for s in (1.0, 3.0)}
    assert expected == {1.0: (1, 16, 16, 16), 3.0: (1, 8, 8, 8)}
    assert crop.cropper.margin == 0  # no per-case state left on the shared transform for a thread to race on
    spacings = [1.0, 3.0] * 40
    with ThreadPoolExecutor(8) as pool:
        shapes = list(pool.map(lambda s: tuple(crop(case(s))["image"].shape), spacings))
    assert shapes == [expected[s] for s in spacings]
