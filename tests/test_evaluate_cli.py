"""``liver3d evaluate``: pairing by name, geometry, FROC from probabilities, and one-line errors."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from liver3d.cli import main as cli

SHAPE = (32, 32, 16)


def label_map(tumors=((4, 4, 4),)) -> np.ndarray:
    lab = np.zeros(SHAPE, np.uint8)
    lab[2:28, 2:28, 2:14] = 1
    for x, y, z in tumors:
        lab[x : x + 4, y : y + 4, z : z + 4] = 2
    return lab


def save(path, data, affine=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.diag([1.5, 1.5, 3.0, 1.0]) if affine is None else affine), str(path))
    return path


@pytest.fixture
def folders(tmp_path):
    ref = tmp_path / "ref"
    pred = tmp_path / "pred"
    save(ref / "a.nii.gz", label_map([(4, 4, 4), (18, 18, 8)]))
    save(pred / "a_seg.nii.gz", label_map([(4, 4, 4)]))  # one found, one missed
    save(ref / "b.nii.gz", label_map([(10, 10, 6)]))
    save(pred / "b_seg.nii.gz", label_map([(10, 10, 6), (20, 4, 2)]))  # found, plus a false one
    return pred, ref, tmp_path / "out"


def test_scores_voxels_and_lesions(folders, capsys):
    pred, ref, out = folders
    assert cli(["evaluate", str(pred), str(ref), "-o", str(out), "--resamples", "100"]) == 0
    summary = json.loads((out / "lesions_summary.json").read_text())
    assert summary["n_cases"] == 2 and summary["reference_lesions"] == 3
    assert summary["overlap"]["counts"] == {"tp": 2, "fp": 1, "fn": 1}
    assert summary["overlap"]["fp_per_case"]["value"] == 0.5
    assert (out / "metrics_summary.json").is_file() and not (out / "froc.png").exists()
    printed = capsys.readouterr().out
    assert "| overlap > 0 |" in printed and "| liver |" in printed


def test_froc_from_probabilities_and_a_differently_stored_prediction(folders):
    pred, ref, out = folders
    # Prediction b stored LPS (axes flipped), on the same world grid as its RAS reference.
    img = nib.load(str(pred / "b_seg.nii.gz"))
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    affine = img.affine @ np.array([[-1, 0, 0, 31], [0, -1, 0, 31], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    save(pred / "b_seg.nii.gz", np.asarray(img.dataobj)[::-1, ::-1].copy(), affine)
    assert np.allclose(affine[:3, :3], np.diag([1.5, 1.5, 3.0]) @ flip[:3, :3])
    for case in ("a", "b"):
        lab = np.asarray(nib.load(str(ref / f"{case}.nii.gz")).dataobj)
        prob = np.stack([(lab == 0), (lab == 1), (lab == 2) * 0.7], -1).astype(np.float32)
        save(pred / f"{case}_prob.nii.gz", prob)
    assert (
        cli(
            [
                "evaluate",
                str(pred),
                str(ref),
                "-o",
                str(out),
                "--resamples",
                "50",
                "--thresholds",
                "0.5",
                "0.8",
            ]
        )
        == 0
    )
    froc = json.loads((out / "lesions_summary.json").read_text())["froc"]
    assert [(r["threshold"], r["recall"], r["fp_per_case"]) for r in froc] == [
        (0.5, 1.0, 0.0),
        (0.8, 0.0, 0.0),
    ]
    assert (out / "froc.png").stat().st_size > 0
    summary = json.loads((out / "lesions_summary.json").read_text())
    assert summary["overlap"]["counts"] == {"tp": 2, "fp": 1, "fn": 1}  # the flipped file scored the same


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing_ref", "no reference b.nii.gz"),
        ("bad_values", "label values 7 outside the declared set"),
        ("grid", "grid differs from its reference's"),
        ("truncated", "truncated"),
        ("4d", "expected a 3D label map"),
    ],
)
def test_bad_inputs_give_one_line_and_write_nothing(folders, capsys, damage, message):
    pred, ref, out = folders
    target = pred / "b_seg.nii.gz"
    if damage == "missing_ref":
        (ref / "b.nii.gz").unlink()
    elif damage == "bad_values":
        save(target, np.full(SHAPE, 7, np.uint8))
    elif damage == "grid":
        save(target, label_map()[:, :, :8])
    elif damage == "truncated":
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 2])
    elif damage == "4d":
        save(target, np.zeros((*SHAPE, 2), np.uint8))
    assert cli(["evaluate", str(pred), str(ref), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ERROR ") and message in err[0], err
    assert not out.exists()


def test_empty_prediction_folder(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "r").mkdir()
    assert cli(["evaluate", str(tmp_path / "p"), str(tmp_path / "r"), "-o", str(tmp_path / "o")]) == 1
    assert "no predicted label maps" in capsys.readouterr().err
