"""scripts/train_release.py: the joint training datalist of ``--mix-with`` (phantom sets of two generators)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from script_utils import load_script

from liver3d.data import load_datalist

train_release = load_script("train_release")


def _phantom_folder(root: Path, names: list[str]) -> Path:
    (root / "imagesTr").mkdir(parents=True)
    entries = []
    for name in names:
        (root / "imagesTr" / f"{name}.nii.gz").write_bytes(b"")
        entries.append({"image": f"imagesTr/{name}.nii.gz", "label": f"labelsTr/{name}.nii.gz"})
    (root / "dataset.json").write_text(json.dumps({"generator_version": "x", "training": entries}))
    return root


def _weights(path: Path, value: float) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"w": torch.full((2,), value)}, path)
    return path


def _release_and_trained_stage2(tmp_path: Path, name: str, training: dict) -> tuple[Path, Path]:
    """A release folder ``tmp_path/name`` (stage1 = 1, stage2 = 2) and a work folder whose training wrote
    stage2 = 3."""
    from liver3d.networks import export_release_weights

    release = export_release_weights(
        {"stage1": _weights(tmp_path / "a.pt", 1.0), "stage2": _weights(tmp_path / "b.pt", 2.0)},
        tmp_path / name,
        training,
    )
    work = tmp_path / "work"
    _weights(work / "bundle" / "models" / "stage2" / "model.pt", 3.0)
    return release, work


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


def test_a_trained_stage_joins_the_base_release_as_the_next_ensemble_member(tmp_path):
    from liver3d.networks import ensemble_members, export_release_weights

    base, work = _release_and_trained_stage2(tmp_path, "base", {"recipe": "base recipe"})
    record = {"recipe": "member recipe", "stages": {"stage2": {"epochs_done": 5}}}

    keep, sources, ensembles, training = train_release.ensemble_sources(base, ["stage2"], work, record)
    assert sorted(keep) == ["stage1", "stage2"] and list(sources) == ["stage2_m2"]
    assert ensembles == {"stage2": ["stage2", "stage2_m2"]}
    assert training["recipe"] == "base recipe"
    assert training["ensemble_members"]["stage2_m2"]["recipe"] == "member recipe"

    # Exported and extended once more, the next member is m3 and the earlier ones stay.
    out = export_release_weights(sources, tmp_path / "out", training, ensembles, keep)
    for name in ("stage1.pt", "stage2.pt"):  # the base release's files are shipped again unchanged
        assert (out / name).read_bytes() == (base / name).read_bytes()
    assert [Path(m).name for m in ensemble_members(out / "stage2.pt")] == ["stage2.pt", "stage2_m2.pt"]
    assert ensemble_members(out / "stage1.pt") == [str(out / "stage1.pt")]
    _, _, again, training2 = train_release.ensemble_sources(out, ["stage2"], work, record)
    assert again == {"stage2": ["stage2", "stage2_m2", "stage2_m3"]}
    assert sorted(training2["ensemble_members"]) == ["stage2_m2", "stage2_m3"]


def test_a_wrong_release_folder_stops_before_any_phantom_or_training(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("phantoms were generated before the folders were checked")

    monkeypatch.setattr(train_release, "make_phantoms", never)
    for flag in ("--ensemble-with", "--init-from"):
        try:
            train_release.main(["--work", str(tmp_path / "work"), flag, str(tmp_path / "models" / "release")])
        except SystemExit as stop:
            assert f"{flag} " in str(
                stop
            ) and "not a release folder (no manifest.json or training.json)" in str(stop)
        else:
            raise AssertionError(f"{flag} with a missing folder did not stop")


def test_training_can_start_from_a_later_ensemble_member(tmp_path, monkeypatch):
    release = tmp_path / "release"
    release.mkdir()
    (release / "training.json").write_text(
        json.dumps(
            {
                "stages": {"stage2": {"epochs_done": 44}},
                "ensemble_members": {"stage2_m2": {"stages": {"stage2": {"epochs_done": 52}}}},
            }
        )
    )
    assert train_release.previous_record(release, "stage2")["epochs_done"] == 44
    assert train_release.previous_record(release, "stage2", member=2)["epochs_done"] == 52
    calls = []

    def call(cmd, **kwargs):
        calls.append(cmd)
        return 1  # stop right after the command is built

    monkeypatch.setattr(train_release.subprocess, "call", call)
    monkeypatch.setattr(train_release, "training_datalist", lambda work, mix: work / "phantoms_train")
    args = train_release.parse_args(["--init-from", str(release), "--init-member", "2", "--stages", "stage2"])
    with pytest.raises(SystemExit, match="training failed"):
        train_release.train_stage("stage2", args, tmp_path / "work")
    assert calls[0][calls[0].index("--init_weights") + 1] == str(release / "stage2_m2.pt")
    with pytest.raises(SystemExit, match="members count from 1"):
        train_release.member_name("stage2", 0)


def test_a_stage_not_trained_is_exported_byte_for_byte(tmp_path):
    from liver3d.networks import read_weights

    training = {"recipe": "init recipe", "stages": {"stage1": {}, "stage2": {}}}
    init, work = _release_and_trained_stage2(tmp_path, "init", training)
    (work / "phantoms_train").mkdir(parents=True)
    (work / "phantoms_train" / "dataset.json").write_text(json.dumps({"training": []}))
    out = tmp_path / "out"
    args = train_release.parse_args(["--init-from", str(init), "--stages", "stage2", "--export-to", str(out)])
    train_release.export(args, work, {"stage1": {}, "stage2": {}})
    assert (out / "stage1.pt").read_bytes() == (init / "stage1.pt").read_bytes()
    assert float(read_weights(out / "stage2.pt")["w"][0]) == 3.0
