"""``liver3d export FORMAT ...``: model exports. ``liver3d export onnx -o DIR``: the cascade as ONNX."""

from __future__ import annotations

import sys

FORMATS = {"onnx": "liver3d.export.onnx"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in FORMATS:
        print(f"usage: liver3d export {{{','.join(FORMATS)}}} [options]", file=sys.stderr)
        return 2
    import importlib

    return int(importlib.import_module(FORMATS[argv[0]]).main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
