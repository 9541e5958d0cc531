"""``python -m liver3d.search --config_file "['train.json', 'study.json', 'search.json']" [--key value ...]``

Runs a hyper-parameter search of a bundle. The config files are those a training run takes, plus one that
holds the search settings (``search_space``, ``n_trials``, ``trial_epochs``, ``search_metric``,
``search_pruner``, ``search_output_dir``, ``search_seed``; see ``bundles/image_cls_2d/configs/search.json``).
``--key value`` pairs override config entries, as with ``monai.bundle run``, for the settings and for every
trial (``--n_trials 2 --dataset_dir DIR``).
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import sys


def parse_value(text: str):
    """A command-line value as JSON or a Python literal when it is one, else the string."""
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError):
            continue
    return text


def parse_overrides(tokens: list[str]) -> dict:
    overrides, i = {}, 0
    while i < len(tokens):
        key = tokens[i]
        if not key.startswith("--") or i + 1 >= len(tokens):
            raise SystemExit(f"ERROR arguments: expected '--key value' pairs, got {' '.join(tokens[i:])!r}")
        overrides[key[2:]] = parse_value(tokens[i + 1])
        i += 2
    return overrides


def main(argv: list[str] | None = None) -> int:
    from monai.bundle import ConfigParser

    from liver3d.search.runner import HyperparameterSearch, SearchFailed

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the trials and the table

    parser = argparse.ArgumentParser(prog="python -m liver3d.search", description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "--config_file", required=True, help="a config file, or a list of them as for monai.bundle"
    )
    args, rest = parser.parse_known_args(argv)
    files = parse_value(args.config_file)
    files = [files] if isinstance(files, str) else list(files)
    overrides = parse_overrides(rest)
    config = ConfigParser()
    config.read_config(files)
    config.update(overrides)
    if "search_space" not in config.get():
        raise SystemExit(f"ERROR {files[-1]}: no search_space; add the bundle's search.json to --config_file")

    def setting(key, default=None):
        return config.get_parsed_content(key) if key in config.get() else default

    search = HyperparameterSearch(
        config_files=files,
        space=setting("search_space"),
        output_dir=setting("search_output_dir", "search"),
        n_trials=int(setting("n_trials", 12)),
        trial_epochs=int(setting("trial_epochs", 9)),
        metric=setting("search_metric", "val_balanced_accuracy"),
        pruner=setting("search_pruner", "hyperband"),
        seed=int(setting("search_seed", 0)),
        overrides=overrides,
        storage=setting("search_storage"),
    )
    try:
        search.run()
    except SearchFailed as err:
        print(f"ERROR {err.path}: {err.problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
