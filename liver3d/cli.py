"""``liver3d <command> ...``: one entry point for the package's command-line tools.

Each command is the same program as its ``python -m`` form (``liver3d serve`` = ``python -m liver3d.app``,
``liver3d check`` = ``python -m liver3d.check``, ...); ``liver3d <command> --help`` shows its options.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "segment": ("liver3d.segment", "liver and tumor segmentation of one CT with the shipped model"),
    "serve": ("liver3d.app.__main__", "the viewer: upload a CT or 2D image, run a bundle, view, download"),
    "demo": ("liver3d.demo", "phantoms -> check -> train -> evaluate -> CAM -> report -> 2D studies"),
    "evaluate": (
        "liver3d.evaluate",
        "voxel and lesion-wise scores (LiTS rules, FROC) of label maps vs references",
    ),
    "check": ("liver3d.check", "integrity check of a datalist (images, labels, geometry)"),
    "split": ("liver3d.split", "patient-level train/validation/test or k-fold splits"),
    "phantoms": ("liver3d.phantoms.__main__", "CT phantoms with labels and dataset.json"),
    "real-background": (
        "liver3d.phantoms.real_background.__main__",
        "synthetic lesions planted in a real CT's liver (training data)",
    ),
    "images2d": ("liver3d.phantoms.images2d.__main__", "labelled 2D images for the 2D studies"),
    "report": ("liver3d.report.__main__", "structured report of a segmentation"),
    "bundle": ("liver3d.bundles", "bundle list / path NAME / export NAME DIR: the shipped MONAI bundles"),
    "export": (
        "liver3d.export.__main__",
        "export onnx: both cascade stages as ONNX, checked with onnxruntime",
    ),
    "search": ("liver3d.search.__main__", "hyper-parameter search of a bundle's trainer (Optuna)"),
}


def usage() -> str:
    lines = ["usage: liver3d <command> [options]   (liver3d <command> --help for its options)", ""]
    lines += [f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"liver3d: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    sys.argv = [f"liver3d {command}", *rest]  # so each tool's --help names the command the user typed
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
