"""scripts/train_release.py: the joint training datalist of ``--mix-with`` (phantom sets of two generators)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from liver3d.data import load_datalist

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_release.py"
spec = importlib.util.spec_from_file_location("train_release", SCRIPT)
train_release = importlib.util.module_from_spec(spec)
sys.modules["train_release"] = train_release
spec.loader.exec_module(train_release)


def _phantom_folder(root: Path, names: list[str]) -> Path:
    (root / "imagesTr").mkdir(parents=True)
    entries = []
    for name in names:
        (root / "imagesTr" / f"{name}.nii.gz").write_bytes(b"")
        entries.append({"image": f"imagesTr/{name}.nii.gz", "label": f"labelsTr/{name}.nii.gz"})
    (root / "dataset.json").write_text(json.dumps({"generator_version": "x", "training": entries}))
    return root


def test_without_mixing_the_work_folder_is_the_training_set(tmp_path):
    assert train_release.training_datalist(tmp_path, []) == tmp_path / "phantoms_train"


def test_mixed_sets_are_listed_together_with_distinct_patient_ids(tmp_path):
    _phantom_folder(tmp_path / "phantoms_train", ["case_000", "case_001"])
    older = _phantom_folder(tmp_path / "gen20_train", ["case_000"])

    path = train_release.training_datalist(tmp_path, [str(older)])

    entries = load_datalist(path)
    assert [Path(e["image"]).parent.parent.name for e in entries] == ["phantoms_train"] * 2 + ["gen20_train"]
    ids = [e["patient_id"] for e in entries]
    assert ids == ["phantoms_train/case_000", "phantoms_train/case_001", "gen20_train/case_000"]
    assert all(Path(e["image"]).is_absolute() and Path(e["label"]).is_absolute() for e in entries)
    assert train_release._cases(older) == 1
