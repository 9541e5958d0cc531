"""The library's error and output contract, checked on its source (ast: nothing is imported or run).

- ``SystemExit`` is raised only by command-line entry points (``__main__`` modules) and by the one bundle
  helper, :func:`liver3d.bundle_support.checked`; everything else raises typed errors (``InputError``...).
- ``print`` appears only in command-line front ends; library modules log.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "liver3d"
EXIT_ALLOWED = {"bundle_support.py"}
FRONT_ENDS = {
    "bundle_support.py", "cli.py", "demo.py", "segment.py", "evaluate.py", "check.py", "split.py", "bundles.py",
    "export/onnx.py",
}  # fmt: skip


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        yield rel, ast.parse(path.read_text(encoding="utf-8"))


def _raises_system_exit(node: ast.AST) -> bool:
    if not isinstance(node, ast.Raise) or node.exc is None:
        return False
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return isinstance(exc, ast.Name) and exc.id == "SystemExit"


def _is_print(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"


def _offenders(matches, allowed: set[str]) -> list[str]:
    """``module:line`` of every node ``matches`` accepts, outside ``__main__`` modules and ``allowed``."""
    return [
        f"{rel}:{node.lineno}"
        for rel, tree in _modules()
        if not rel.endswith("__main__.py") and rel not in allowed
        for node in ast.walk(tree)
        if matches(node)
    ]


def test_system_exit_only_in_entry_points_and_the_bundle_helper():
    assert _offenders(_raises_system_exit, EXIT_ALLOWED) == []


def test_print_only_in_command_line_front_ends():
    assert _offenders(_is_print, FRONT_ENDS) == []
