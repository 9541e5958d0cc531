"""2D images: reading PNG/JPEG/DICOM/NIfTI with file-naming errors, class-folder and CSV datalists with
patient ids, and the study phantoms' class-dependent structure."""

import csv
import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from liver3d.data import ImageDataset, image_datalist, patients, split_by_patient
from liver3d.data.datalist import DatalistError
from liver3d.io import VolumeError, read_image_2d
from liver3d.phantoms.images2d import STUDIES, render_image, write_study_images


def _png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


def test_reads_grey_rgb_dicom_and_nifti_slices(tmp_path):
    grey = (np.arange(48 * 64).reshape(48, 64) % 256).astype(np.uint8)
    assert np.array_equal(read_image_2d(_png(tmp_path / "g.png", grey))[0], grey)
    rgb = np.stack([grey, 255 - grey, grey // 2], -1)
    _png(tmp_path / "c.png", rgb)
    assert read_image_2d(tmp_path / "c.png", channels=3).shape == (3, 48, 64)
    assert np.allclose(read_image_2d(tmp_path / "c.png", channels=1)[0], rgb.mean(-1), atol=1e-4)
    assert read_image_2d(tmp_path / "g.png", channels=3).shape == (3, 48, 64)  # grey repeated

    dcm = tmp_path / "x.dcm"
    sitk.WriteImage(sitk.GetImageFromArray(grey.astype(np.int16)), str(dcm))
    assert np.array_equal(read_image_2d(dcm)[0], grey)

    # a one-slice NIfTI in (x, y, 1) order comes back as rows top-down
    nii = tmp_path / "s.nii.gz"
    nib.save(nib.Nifti1Image(np.flipud(grey).T[:, :, None].astype(np.float32), np.eye(4)), nii)
    assert np.array_equal(read_image_2d(nii)[0], grey)


def test_bad_images_are_named(tmp_path):
    with pytest.raises(VolumeError, match="missing.png: file not found"):
        read_image_2d(tmp_path / "missing.png")
    good = _png(tmp_path / "t.png", np.zeros((64, 64), np.uint8) + 7)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(VolumeError, match="truncated.png: cannot be read as an image"):
        read_image_2d(truncated)
    volume = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.float32), np.eye(4)), volume)
    with pytest.raises(VolumeError, match="vol.nii.gz: expected one 2D slice"):
        read_image_2d(volume)
    nan = tmp_path / "nan.nii.gz"
    data = np.zeros((8, 8), np.float32)
    data[2, 2] = np.nan
    nib.save(nib.Nifti1Image(data, np.eye(4)), nan)
    with pytest.raises(VolumeError, match="nan.nii.gz: 1 pixels are NaN"):
        read_image_2d(nan)


def test_dataset_stops_with_one_line_per_unreadable_image(tmp_path, capsys):
    good = _png(tmp_path / "a" / "ok.png", np.zeros((16, 16), np.uint8))
    bad = tmp_path / "a" / "bad.png"
    bad.write_bytes(b"not a png")
    entries = [
        {"image": str(good), "label": 0, "patient_id": "p1"},
        {"image": str(bad), "label": 0, "patient_id": "p2"},
    ]
    with pytest.raises(VolumeError) as info:
        ImageDataset(entries)
    assert len(info.value.findings) == 1 and info.value.findings[0][0].endswith("bad.png")
    assert info.value.lines()[0].startswith("ERROR ") and "ok.png" not in " ".join(info.value.lines())
    # Through the bundle-support helper (as bundle configs build it): the same line, and exit 1.
    from liver3d.bundle_support import checked

    with pytest.raises(SystemExit) as stop:
        checked(ImageDataset, entries)
    err = capsys.readouterr().err
    assert stop.value.code == 1 and "ERROR" in err and "bad.png" in err and "ok.png" not in err


def test_folder_and_csv_datalists(tmp_path):
    img = np.zeros((16, 16), np.uint8)
    for name in ("normal/P1_a.png", "normal/P1_b.png", "pneumonia/sub/P2_a.jpg"):
        _png(tmp_path / "tree" / name, img)
    entries = image_datalist(tmp_path / "tree", ["normal", "pneumonia"], patient_pattern=r"^(P\d+)_")
    assert [(e["class_name"], e["label"], e["patient_id"]) for e in entries] == [
        ("normal", 0, "P1"),
        ("normal", 0, "P1"),
        ("pneumonia", 1, "P2"),
    ]
    # a CSV with its own column names (as RSNA's labels file), labels as indices
    rows = [{"path": "tree/normal/P1_a.png", "Target": "0", "patientId": "A"}]
    rows.append({"path": "tree/pneumonia/sub/P2_a.jpg", "Target": "1", "patientId": "B"})
    with open(tmp_path / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "Target", "patientId"])
        writer.writeheader()
        writer.writerows(rows)
    columns = {"image": "path", "label": "Target", "patient_id": "patientId"}
    entries = image_datalist(tmp_path / "labels.csv", ["normal", "pneumonia"], columns)
    assert [(e["label"], e["patient_id"]) for e in entries] == [(0, "A"), (1, "B")]
    (tmp_path / "list.json").write_text(
        json.dumps({"training": [{"image": "tree/normal/P1_b.png", "label": "normal"}]}), encoding="utf-8"
    )
    assert image_datalist(tmp_path / "list.json", ["normal", "pneumonia"])[0]["patient_id"] == "P1_b"


def test_datalist_errors_name_the_problem(tmp_path):
    _png(tmp_path / "tree" / "normal" / "a.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "tree" / "other" / "b.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DatalistError, match=r"folder\(s\) \['other'\] are not among the classes"):
        image_datalist(tmp_path / "tree", ["normal", "pneumonia"])
    (tmp_path / "l.csv").write_text("image,label\ntree/normal/a.png,fracture\n", encoding="utf-8")
    with pytest.raises(DatalistError, match="row 1: label 'fracture' is not a class"):
        image_datalist(tmp_path / "l.csv", ["normal", "pneumonia"])
    (tmp_path / "m.csv").write_text("image,label\ntree/normal/gone.png,normal\n", encoding="utf-8")
    with pytest.raises(DatalistError, match="1 image file\\(s\\) not found, e.g. .*gone.png"):
        image_datalist(tmp_path / "m.csv", ["normal", "pneumonia"])
    with pytest.raises(DatalistError, match="nowhere: image datalist not found"):
        image_datalist(tmp_path / "nowhere", ["a", "b"])


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_study_phantoms_are_deterministic_and_split_by_patient(tmp_path, study):
    spec = STUDIES[study]
    path = write_study_images(
        study, tmp_path / "a", patients_per_class=3, images_per_patient=2, size=48, seed=5
    )
    again = write_study_images(
        study, tmp_path / "b", patients_per_class=3, images_per_patient=2, size=48, seed=5
    )
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    assert len(rows) == 3 * 2 * len(spec.classes)
    first = np.asarray(Image.open(path.parent / rows[-1]["image"]))
    assert first.shape == (48, 48)
    assert np.array_equal(first, np.asarray(Image.open(again.parent / rows[-1]["image"])))
    entries = image_datalist(path.parent, list(spec.classes))
    split = split_by_patient(entries, 0.34, 0.34, 0, "label")
    assert not patients(split["train"]) & patients(split["val"])
    assert not patients(split["val"]) & patients(split["test"])
    for part in ("train", "val", "test"):  # stratified by class: every class on every side
        assert {e["label"] for e in split[part]} == set(range(len(spec.classes)))


def test_phantom_classes_differ_where_the_disease_is():
    rng = np.random.default_rng(0)
    xray = STUDIES["xray_pneumonia"]
    normal, _ = render_image(xray, xray.sample_patient(rng, 0), rng, 128)
    sick_patient = xray.sample_patient(rng, 1)
    sick, mask = render_image(xray, sick_patient, rng, 128)
    assert mask is not None and mask.sum() > 20
    assert sick[mask].mean() > normal[mask].mean() + 0.05  # consolidation is denser than aerated lung

    liver = STUDIES["liver_disease_4class"]
    cyst, cyst_mask = render_image(liver, liver.sample_patient(rng, 0), rng, 128)
    _, none_mask = render_image(liver, liver.sample_patient(rng, 3), rng, 128)
    assert none_mask is None and cyst_mask.sum() > 10
    assert cyst[cyst_mask].mean() < 0.45  # water density in a liver window, darker than the liver

    organs = STUDIES["multiorgan_8class"]
    with_tumor = [render_image(organs, organs.sample_patient(rng, c), rng, 64)[1] for c in range(0, 8, 2)]
    without = [render_image(organs, organs.sample_patient(rng, c), rng, 64)[1] for c in range(1, 8, 2)]
    assert all(m is not None and m.any() for m in with_tumor) and all(m is None for m in without)
