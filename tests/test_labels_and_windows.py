import json

import pytest
import torch

from liver3d.labels import load_label_table
from liver3d.transforms import MultiWindowHU, MultiWindowHUd, WindowHU, WindowHUd
from liver3d.windows import window_bounds


def test_label_table_is_background_liver_tumor():
    table = load_label_table()
    assert table.values == (0, 1, 2)
    assert table.names == ("background", "liver", "tumor")
    assert table.value("tumor") == 2
    assert table.as_decathlon() == {"0": "background", "1": "liver", "2": "tumor"}
    assert all(len(lab.color) == 3 and all(0 <= c <= 255 for c in lab.color) for lab in table)
    assert table.by_name("liver").color != table.by_name("tumor").color


def test_label_table_rejects_duplicates(tmp_path):
    bad = tmp_path / "labels.json"
    bad.write_text(
        json.dumps(
            {
                "labels": [
                    {"value": 0, "name": "a", "color": [0, 0, 0]},
                    {"value": 0, "name": "b", "color": [1, 1, 1]},
                ]
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="unique"):
        load_label_table(bad)


def test_unknown_label_name_is_a_clear_error():
    with pytest.raises(KeyError, match="known labels"):
        load_label_table().value("kidney")


def test_window_presets_and_level_width():
    assert window_bounds("liver") == (-100.0, 200.0)
    assert window_bounds("abdomen") == (-160.0, 240.0)
    assert window_bounds(level=40, width=400) == (-160.0, 240.0)
    with pytest.raises(ValueError, match="unknown window"):
        window_bounds("brain_stroke")
    with pytest.raises(ValueError):
        window_bounds(lower=10, upper=5)


def test_window_maps_bounds_to_0_and_1():
    hu = torch.tensor([[-1000.0, -100.0, 50.0, 200.0, 1000.0]])
    out = WindowHU("liver")(hu)
    assert torch.allclose(out, torch.tensor([[0.0, 0.0, 0.5, 1.0, 1.0]]))
    explicit = WindowHU((-100, 200))(hu)
    assert torch.equal(out, explicit)


def test_window_dict_version_maps_only_its_keys():
    d = WindowHUd("image", "liver")({"image": torch.tensor([-100.0, 200.0]), "label": torch.tensor([1, 2])})
    assert d["image"].tolist() == [0.0, 1.0]
    assert d["label"].tolist() == [1, 2]


def test_multi_window_stacks_windows_as_channels():
    hu = torch.full((1, 2, 2, 2), 40.0)
    out = MultiWindowHU(["liver", "abdomen", (0, 80)])(hu)
    assert out.shape == (3, 2, 2, 2)
    assert torch.allclose(out[0], torch.full((2, 2, 2), 140 / 300))
    assert torch.allclose(out[1], torch.full((2, 2, 2), 0.5))
    assert torch.allclose(out[2], torch.full((2, 2, 2), 0.5))
    d = MultiWindowHUd("image", ["liver", "bone"])({"image": hu})
    assert d["image"].shape[0] == 2


def test_multi_window_rejects_multichannel_input():
    with pytest.raises(ValueError, match="one channel"):
        MultiWindowHU()(torch.zeros(2, 3, 3, 3))
