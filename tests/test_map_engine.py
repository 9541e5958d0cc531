"""The map engine (liver3d.engines.maps): a producer under MONAI's Evaluator, maps back on the input grid."""

import csv
import json
import logging

import nibabel as nib
import numpy as np
from monai.engines import Evaluator
from monai.transforms import Compose, EnsureChannelFirstd, Orientationd

from liver3d.data.datalist import entry_case
from liver3d.engines.maps import (
    CaseLog,
    Collect,
    MapEvaluator,
    MapsToInputGridSaver,
    TablesWriter,
)
from liver3d.io.nifti import save_nifti
from liver3d.transforms import LoadVolumed


def test_a_producer_runs_under_monais_evaluator_and_its_maps_come_back_on_the_input_grid(tmp_path, caplog):
    affine = np.diag([-1.5, -1.5, 3.0, 1.0])  # LPS-like axes: the preprocessing flips them to RAS
    data = []
    for n in range(2):
        image = np.random.default_rng(n).normal(size=(6, 5, 4)).astype(np.float32)
        data.append({"image": str(save_nifti(image, affine, tmp_path / "in" / f"case{n}.nii.gz"))})
    data[1]["case_id"] = "named"
    preprocessing = Compose(
        [
            LoadVolumed(keys="image"),
            EnsureChannelFirstd(keys="image"),
            Orientationd(keys="image", axcodes="RAS", labels=[["L", "R"], ["P", "A"], ["I", "S"]]),
        ]
    )
    seen_shapes = []

    def producer(sample):  # two maps on the model's (RAS) grid
        image = np.asarray(sample["image"])
        seen_shapes.append(image.shape)
        return {
            "maps": np.concatenate([2 * image, -image]),
            "names": ["double", "minus"],
            "mean": float(image.mean()),
        }

    grid = MapsToInputGridSaver(preprocessing, tmp_path / "out", "{case}_{name}.nii.gz", clip=(-10.0, 10.0))
    rows = Collect(
        lambda out: {"case": out["case"], "mean": round(out["mean"], 6), "paths": out["map_paths"]}
    )
    tables = TablesWriter(
        tmp_path / "out",
        lambda engine: {
            "cases.csv": [{"case": r["case"], "mean": r["mean"]} for r in rows.rows],
            "summary.json": {"n": len(rows.rows)},
            "summary.md": "| n |\n| 2 |",
        },
    )
    caplog.set_level(logging.INFO, logger="liver3d.engines.maps")
    engine = MapEvaluator(
        producer, data, preprocessing, [grid, rows, CaseLog(lambda out: f"{out['case']} done"), tables]
    )
    assert isinstance(engine, Evaluator)
    engine.run()
    assert [r["case"] for r in rows.rows] == ["case0", "named"] == [entry_case(e) for e in data]
    for entry, row in zip(data, rows.rows):
        original = nib.load(entry["image"])
        for name, factor in (("double", 2.0), ("minus", -1.0)):
            saved = nib.load(row["paths"][name])
            assert saved.shape == original.shape and np.allclose(saved.affine, original.affine)
            assert np.allclose(saved.get_fdata(), np.clip(factor * original.get_fdata(), -10, 10), atol=1e-5)
    assert "[1/2] case0 done" in caplog.text and "[2/2] named done" in caplog.text
    with open(tmp_path / "out" / "cases.csv", newline="") as f:
        assert [r["case"] for r in csv.DictReader(f)] == ["case0", "named"]
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == {"n": 2}
    assert (tmp_path / "out" / "summary.md").read_text() == "| n |\n| 2 |\n"
    assert engine.state.tables["summary.json"] == tmp_path / "out" / "summary.json"
    engine.run()  # a second run starts its collection afresh
    assert len(rows.rows) == 2 and len(seen_shapes) == 4
