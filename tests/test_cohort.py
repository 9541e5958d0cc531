"""The cohort table of liver3d.cohort, with a stand-in for the segmentation (the real run: test_segment.py)."""

import csv
from types import SimpleNamespace

import pytest

from liver3d.cohort import cohort_inputs, segment_cohort
from liver3d.errors import InputError
from liver3d.inference.sanity import Caution
from liver3d.io.readers import VolumeError
from liver3d.networks.weights import WeightsError


def _fake_segment(path, out_dir):
    if "bad" in path.name:
        raise VolumeError(path, "truncated file")
    return SimpleNamespace(
        case=path.name.split(".")[0],
        liver_ml=1500.123,
        tumor_ml=2.5,
        lesions=1,
        cautions=[Caution("liver_volume", "odd"), Caution("lesion_outside_liver", "odd")],
        seconds={"read": 1.0, "segment": 2.5},
    )


def test_rows_and_table_for_good_and_bad_cases(tmp_path):
    seen = []
    rows = segment_cohort(
        [tmp_path / "a.nii.gz", tmp_path / "bad.nii.gz"], tmp_path, _fake_segment, lambda r, o: seen.append(r)
    )
    assert [r.status for r in rows] == ["ok", "error"] and seen == rows
    assert rows[0].warnings == "liver_volume lesion_outside_liver" and rows[0].seconds == 3.5
    with open(tmp_path / "cohort.csv", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert table[0]["liver_ml"] == "1500.12" and table[0]["lesions"] == "1"
    assert table[1] == {
        "case": "bad",
        "input": str(tmp_path / "bad.nii.gz"),
        "status": "error",
        "liver_ml": "",
        "tumor_ml": "",
        "lesions": "",
        "warnings": "",
        "error": "truncated file",
        "seconds": "0.0",
    }


def test_two_inputs_of_one_case_name_are_refused_before_any_runs(tmp_path):
    ran = []
    with pytest.raises(InputError, match="several CTs would be written as case 'a'"):
        segment_cohort([tmp_path / "a.nii.gz", tmp_path / "a.zip"], tmp_path, lambda p, o: ran.append(p))
    assert ran == [] and not (tmp_path / "cohort.csv").exists()


def test_unusable_weights_stop_the_cohort(tmp_path):
    def no_weights(path, out_dir):
        raise WeightsError("model.pt", "holds code")

    with pytest.raises(WeightsError):
        segment_cohort([tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"], tmp_path, no_weights)
    assert not (tmp_path / "cohort.csv").exists()


def test_what_counts_as_a_cohort(tmp_path):
    (tmp_path / "b.nii.gz").write_bytes(b"")
    (tmp_path / "a.zip").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    assert [p.name for p in cohort_inputs(tmp_path)] == ["a.zip", "b.nii.gz"]
    assert cohort_inputs(tmp_path / "b.nii.gz") == []


def test_an_output_path_that_is_a_file_is_refused_before_any_runs(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(InputError, match="the output folder is a file"):
        segment_cohort([tmp_path / "a.nii.gz"], tmp_path / "out", _fake_segment)
