import json
from pathlib import Path

import pytest

from liver3d.data import (
    DatalistError,
    datalist_from_folder,
    kfold_by_patient,
    load_datalist,
    patients,
    split_by_patient,
)
from liver3d.split import main as split_main


def _entries(n_patients: int, scans_per_patient: int = 2) -> list[dict]:
    return [
        {"image": f"/d/p{p}_s{s}.nii.gz", "patient_id": f"p{p}", "has_tumor": p % 3 == 0}
        for p in range(n_patients)
        for s in range(scans_per_patient)
    ]


def test_load_datalist_resolves_paths_and_patients(phantom_datalist):
    entries = load_datalist(phantom_datalist)
    assert len(entries) == 4
    for e in entries:
        assert Path(e["image"]).is_absolute() and Path(e["image"]).is_file()
        assert Path(e["label"]).is_file()
        assert e["patient_id"]


def test_folder_pairs_images_with_labels(phantom_dir):
    entries = datalist_from_folder(phantom_dir)
    assert len(entries) == 4
    assert all(Path(e["label"]).name == Path(e["image"]).name for e in entries)


def test_orphan_label_is_an_error(tmp_path):
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    (tmp_path / "imagesTr" / "a.nii.gz").write_bytes(b"")
    (tmp_path / "labelsTr" / "b.nii.gz").write_bytes(b"")
    with pytest.raises(DatalistError, match="labels without an image: b"):
        datalist_from_folder(tmp_path)


def test_missing_key_is_named(phantom_datalist):
    with pytest.raises(DatalistError, match="no 'validation' list"):
        load_datalist(phantom_datalist, key="validation")


def test_split_never_puts_a_patient_on_both_sides():
    entries = _entries(20, scans_per_patient=3)
    parts = split_by_patient(entries, val_fraction=0.2, test_fraction=0.2, seed=1)
    train, val, test = (patients(parts[k]) for k in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == patients(entries)
    assert sum(len(v) for v in parts.values()) == len(entries)
    assert len(val) == 4 and len(test) == 4


def test_split_is_stratified_and_deterministic():
    entries = _entries(30, 1)
    a = split_by_patient(entries, 0.2, 0.2, seed=5)
    b = split_by_patient(entries, 0.2, 0.2, seed=5)
    c = split_by_patient(entries, 0.2, 0.2, seed=6)
    assert a == b and a != c
    for part in a.values():
        assert any(e["has_tumor"] for e in part) and not all(e["has_tumor"] for e in part)


def test_kfold_puts_each_patient_in_exactly_one_validation_fold():
    entries = _entries(12, 2)
    folds = kfold_by_patient(entries, folds=4, seed=0)
    seen = []
    for fold in folds:
        assert not (patients(fold["train"]) & patients(fold["val"]))
        seen += sorted(patients(fold["val"]))
    assert sorted(seen) == sorted(patients(entries))
    with pytest.raises(ValueError):
        kfold_by_patient(entries, folds=13)


def test_split_cli_writes_decathlon_lists(phantom_datalist, tmp_path, capsys):
    out = tmp_path / "split.json"
    assert split_main([str(phantom_datalist), "--out", str(out), "--val", "0.25"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert len(data["training"]) + len(data["validation"]) == 4
    assert not patients(data["training"]) & patients(data["validation"])
    assert split_main([str(phantom_datalist), "--out", str(out), "--folds", "2"]) == 0
    assert (tmp_path / "split_fold0.json").is_file() and (tmp_path / "split_fold1.json").is_file()
