"""The cohort of liver3d.cohort, with a stand-in for the segmentation (the real run: test_segment.py)."""

import csv
import shutil
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest

from liver3d.cohort import cohort_inputs, segment_cohort
from liver3d.errors import InputError
from liver3d.inference.sanity import Caution
from liver3d.io.dicom import write_dicom_series
from liver3d.io.nifti import save_nifti
from liver3d.io.readers import VolumeError
from liver3d.networks.weights import WeightsError


def _fake_segment(path, out_dir):
    if "bad" in path.name:
        raise VolumeError(path, "truncated file")
    if "oom" in path.name:
        raise RuntimeError("out of memory")
    return SimpleNamespace(
        case=path.name.split(".")[0],
        liver_ml=1500.123,
        tumor_ml=2.5,
        lesions=1,
        cautions=[Caution("liver_volume", "odd"), Caution("lesion_outside_liver", "odd")],
        seconds={"read": 1.0, "segment": 2.5},
    )


def _table(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_rows_and_table_for_good_and_failing_cases(tmp_path):
    seen = []
    inputs = [tmp_path / "in" / n for n in ("a.nii.gz", "bad.nii.gz", "oom.nii.gz")]
    rows = segment_cohort(inputs, tmp_path / "out", _fake_segment, lambda r, o: seen.append((r, o)))
    assert [r.status for r in rows] == ["ok", "error", "error"] and [r for r, _ in seen] == rows
    assert rows[0].warnings == "liver_volume lesion_outside_liver"
    assert isinstance(seen[2][1], InputError) and rows[2].error == "RuntimeError: out of memory"
    table = _table(tmp_path / "out" / "cohort.csv")
    assert table[0]["liver_ml"] == "1500.12" and table[0]["lesions"] == "1"
    assert {k: table[1][k] for k in ("case", "status", "liver_ml", "error")} == {
        "case": "bad",
        "status": "error",
        "liver_ml": "",
        "error": "truncated file",
    }


def test_the_table_is_written_after_every_case(tmp_path):
    def stop_at_second(path, out_dir):
        if path.name.startswith("b"):
            assert [r["case"] for r in _table(out_dir / "cohort.csv")] == ["a"]
            raise KeyboardInterrupt
        return _fake_segment(path, out_dir)

    with pytest.raises(KeyboardInterrupt):
        segment_cohort([tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"], tmp_path / "out", stop_at_second)
    assert [r["case"] for r in _table(tmp_path / "out" / "cohort.csv")] == ["a"]


def test_inputs_of_one_case_name_are_refused_before_any_runs(tmp_path):
    ran = []
    for names in (("a.nii.gz", "a.zip"), ("A.nii.gz", "a.nii")):
        with pytest.raises(InputError, match="would be written as one case"):
            segment_cohort([tmp_path / n for n in names], tmp_path / "out", lambda p, o: ran.append(p))
    assert ran == [] and not (tmp_path / "out" / "cohort.csv").exists()


@pytest.mark.parametrize("where", ["file", "cohort folder"])
def test_an_unusable_output_folder_is_refused_before_any_runs(tmp_path, where):
    out = tmp_path / "out" if where == "file" else tmp_path
    if where == "file":
        out.write_text("x")
    with pytest.raises(InputError, match="cannot write the output folder|is the cohort folder"):
        segment_cohort([tmp_path / "a.nii.gz"], out, _fake_segment)


def test_unusable_weights_stop_the_cohort(tmp_path):
    def no_weights(path, out_dir):
        raise WeightsError("model.pt", "holds code")

    with pytest.raises(WeightsError):
        segment_cohort([tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"], tmp_path / "out", no_weights)


def _series(folder, study_uid: str | None):
    ct = save_nifti(np.zeros((8, 8, 4), np.int16), np.eye(4), folder.parent / f"{folder.name}.nii.gz")
    for f in write_dicom_series(ct, folder):
        if study_uid is not None:
            ds = pydicom.dcmread(f)
            ds.StudyInstanceUID = study_uid
            ds.save_as(f)
    (folder.parent / f"{folder.name}.nii.gz").unlink()


def test_what_counts_as_a_cohort(tmp_path):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "b.nii.gz").write_bytes(b"")
    (cohort / "a.zip").write_bytes(b"")
    (cohort / "notes.txt").write_text("x")
    (cohort / "._b.nii.gz").write_bytes(b"")  # macOS metadata: hidden, left out
    (cohort / "empty").mkdir()
    _series(cohort / "p1", "1.2.3.1")
    _series(cohort / "p2", "1.2.3.2")
    entries = cohort_inputs(cohort)
    assert [p.name for p in entries.inputs] == ["a.zip", "b.nii.gz", "p1", "p2"]
    assert [p.name for p in entries.skipped] == ["empty", "notes.txt"]
    assert cohort_inputs(cohort / "b.nii.gz").inputs == []
    assert cohort_inputs(cohort / "p1").inputs == []  # a folder holding a series is one CT


def test_series_of_one_study_are_not_a_cohort(tmp_path):
    study = tmp_path / "study"
    study.mkdir()
    _series(study / "scout", "1.2.3.9")
    _series(study / "venous", "1.2.3.9")
    with pytest.raises(InputError, match="scout and venous are series of one study"):
        cohort_inputs(study)
    shutil.rmtree(study / "scout")
    _series(study / "other", "")  # a de-identified series (blank study): not taken for the same study
    assert [p.name for p in cohort_inputs(study).inputs] == ["other", "venous"]


def _dicomdir(path):
    meta = pydicom.dataset.FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds = pydicom.dataset.FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.FileSetID = "EXPORT"
    ds.save_as(path, enforce_file_format=True)


def test_a_patients_export_below_its_folder_is_one_ct(tmp_path):
    from liver3d.segment import SegmentInputError, resolve_input

    cohort = tmp_path / "cohort"
    _series(cohort / "anna" / "study" / "ct", "1.2.3.1")  # <patient>/<study>/<series>/
    _series(cohort / "ben" / "study" / "scout", "1.2.3.2")
    _series(cohort / "ben" / "study" / "ct", "1.2.3.2")
    _series(cohort / "cleo", "1.2.3.3")
    _dicomdir(cohort / "anna" / "DICOMDIR")  # a CD export's index: a DICOM file, not an image
    (cohort / "dan" / "notes").mkdir(parents=True)
    entries = cohort_inputs(cohort)
    assert [p.name for p in entries.inputs] == ["anna", "ben", "cleo"]
    assert [p.name for p in entries.skipped] == ["dan"]
    assert resolve_input(cohort / "anna", tmp_path) == cohort / "anna" / "study" / "ct"
    assert resolve_input(cohort / "cleo", tmp_path) == cohort / "cleo"
    with pytest.raises(
        SegmentInputError
    ) as err:  # which of ben's series is the user's choice: his row says so
        resolve_input(cohort / "ben", tmp_path)
    assert "sub-folders do (study/ct, study/scout): give one of them" in err.value.problem
    # One export given itself is one CT (named after it), not a cohort of its study folder; with several series
    # folders the single run names them.
    assert cohort_inputs(cohort / "anna").inputs == cohort_inputs(cohort / "ben").inputs == []
    # A folder of exports that all hold several series folders is still a cohort: one error row per patient.
    ben2 = cohort / "more" / "ben2"
    shutil.copytree(cohort / "ben", ben2)
    shutil.copytree(cohort / "ben", cohort / "more" / "ben3")
    assert [p.name for p in cohort_inputs(cohort / "more").inputs] == ["ben2", "ben3"]


def test_what_is_not_an_image_does_not_hide_a_series(tmp_path):
    from liver3d.io.dicom_series import series_folder_below

    patient = tmp_path / "gus"
    _series(patient / "study" / "ct", "1.2.3.7")
    for f in list((patient / "study" / "ct").iterdir()):  # a Mac's resource-fork twins sort first
        (f.parent / f"._{f.name}").write_bytes(b"\0" * 4096)
    for n in range(6):
        (patient / "study" / "ct" / f"00README{n}.txt").write_text("x")
    (patient / ".trash" / "old").mkdir(parents=True)  # a hidden folder is not looked into
    shutil.copytree(patient / "study" / "ct", patient / ".trash" / "old", dirs_exist_ok=True)
    assert series_folder_below(patient) == patient / "study" / "ct"


def test_a_series_folder_with_sub_folders_is_still_its_own_series(tmp_path):
    cohort = tmp_path / "cohort"
    _series(cohort / "eve", "1.2.3.5")
    _series(cohort / "eve" / "old", "1.2.3.5")  # DICOM files below a folder that holds a series itself
    _series(cohort / "fay" / "study" / "ct", "1.2.3.6")
    assert [p.name for p in cohort_inputs(cohort).inputs] == ["eve", "fay"]


def test_a_folder_that_cannot_be_read_is_named_not_skipped(tmp_path, monkeypatch):
    import os

    from liver3d.io import dicom_series
    from liver3d.io.dicom_series import DicomFolderError, series_folder_below

    def walk(
        top, onerror=None, **kwargs
    ):  # what os.walk does with a folder it may not list (as root, chmod can't)
        onerror(PermissionError(13, "Permission denied", os.path.join(top, "series")))
        yield str(top), [], []

    monkeypatch.setattr(dicom_series.os, "walk", walk)
    with pytest.raises(DicomFolderError, match=r"cannot read .*series \(Permission denied\)"):
        series_folder_below(tmp_path)
