"""``liver3d bundle list / path / export``: the shipped bundles by name, and a model-zoo copy that runs."""

from __future__ import annotations

import json

from liver3d.cli import main as cli
from liver3d.paths import bundle_dir


def test_list_and_path(capsys):
    assert cli(["bundle", "list"]) == 0
    names = capsys.readouterr().out.split()
    assert "liver_tumor_seg" in names and len(names) == 5
    assert cli(["bundle", "path", "liver_tumor_seg"]) == 0
    assert capsys.readouterr().out.strip() == str(bundle_dir("liver_tumor_seg"))


def test_export_copies_the_zoo_layout_and_nothing_trained(tmp_path, capsys):
    source = bundle_dir("liver_tumor_seg")
    stray = source / "models" / "stage1"
    made = not stray.exists()
    stray.mkdir(parents=True, exist_ok=True)  # a trained run in the checkout must not travel
    try:
        assert cli(["bundle", "export", "liver_tumor_seg", str(tmp_path / "zoo")]) == 0
    finally:
        if made:
            stray.rmdir()
    zoo = tmp_path / "zoo"
    assert "--bundle_root " + str(zoo) in capsys.readouterr().out
    meta = json.loads((zoo / "configs" / "metadata.json").read_text())
    assert (
        meta["version"]
        and (zoo / "configs" / "inference.json").is_file()
        and (zoo / "docs" / "README.md").is_file()
    )
    assert (zoo / "models" / "release" / "stage1.pt").is_file() and (zoo / "LICENSE").is_file()
    assert not (zoo / "models" / "stage1").exists()


def test_bad_names_and_occupied_folders(tmp_path, capsys):
    assert cli(["bundle", "path", "nope"]) == 1
    assert capsys.readouterr().err.startswith("ERROR nope: no such bundle")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    assert cli(["bundle", "export", "liver_tumor_seg", str(tmp_path / "full")]) == 1
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "full" / "x").read_text() == "mine"


def test_every_module_bundle_configs_name_is_reachable_from_the_package():
    """Configs write ``$import liver3d`` then ``liver3d.<module>.<name>``: each such module must load lazily."""
    import re

    import liver3d
    from liver3d.paths import bundles_dir

    used = set()
    for path in bundles_dir().glob("*/configs/**/*.json"):
        used |= set(re.findall(r"liver3d\.([a-z_0-9]+)\.", path.read_text(encoding="utf-8")))
    assert used and "bundle_support" in used
    for name in sorted(used):
        assert getattr(liver3d, name) is not None, name
