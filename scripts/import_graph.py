"""Picture of liver3d's internal imports between its sub-packages (top-level modules count as their own node).

    python scripts/import_graph.py --out docs/images/imports.png            # this checkout
    python scripts/import_graph.py --root /tmp/old --out /tmp/before.png    # another checkout, to compare

Reads every ``liver3d/**/*.py`` with :mod:`ast` (no import is executed), maps each ``import liver3d.x...`` or
``from liver3d.x... import`` (and relative imports) to the sub-package it names, and draws one arrow per
(importer, imported) pair on a circle, thicker for more import statements. Also prints the edges, and
the cycles between sub-packages, as text.
"""

from __future__ import annotations

import argparse
import ast
import math
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def node_of(module: str) -> str:
    """``liver3d.viz.montage`` -> ``viz``; ``liver3d.geometry`` -> ``geometry``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "liver3d"


def module_name(path: Path, package: Path) -> str:
    rel = path.relative_to(package.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def edges(package: Path) -> Counter:
    counts: Counter = Counter()
    for path in sorted(package.rglob("*.py")):
        here = module_name(path, package)
        source = node_of(here)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative import
                    base = (
                        here.split(".")[: -node.level]
                        if path.name != "__init__.py"
                        else here.split(".")[: len(here.split(".")) - node.level + 1]
                    )
                    targets = [".".join(base + ([node.module] if node.module else []))]
                elif node.module:
                    targets = [node.module]
            for target in targets:
                if target == "liver3d" or target.startswith("liver3d."):
                    dest = node_of(target)
                    if dest != source and dest != "liver3d":
                        counts[(source, dest)] += 1
    return counts


def cycles(counts: Counter) -> list[tuple[str, str]]:
    return sorted({tuple(sorted(pair)) for pair in counts if (pair[1], pair[0]) in counts})


def draw(counts: Counter, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = sorted({n for pair in counts for n in pair})
    pos = {
        n: (math.cos(2 * math.pi * i / len(nodes)), math.sin(2 * math.pi * i / len(nodes)))
        for i, n in enumerate(nodes)
    }
    both = set(cycles(counts))
    fig, ax = plt.subplots(figsize=(9, 9))
    for (a, b), n in counts.items():
        (x0, y0), (x1, y1) = pos[a], pos[b]
        cyclic = tuple(sorted((a, b))) in both
        ax.annotate(
            "", xy=(x1 * 0.93, y1 * 0.93), xytext=(x0 * 0.93, y0 * 0.93),
            arrowprops={"arrowstyle": "->", "lw": 0.4 + 0.35 * min(n, 8), "alpha": 0.55,
                        "color": "tab:red" if cyclic else "tab:blue", "connectionstyle": "arc3,rad=0.08"},
        )  # fmt: skip
    for n, (x, y) in pos.items():
        ax.text(x * 1.06, y * 1.06, n, ha="center", va="center", fontsize=10,
                bbox={"boxstyle": "round", "fc": "white", "ec": "grey"})  # fmt: skip
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-1.35, 1.35)
    ax.axis("off")
    ax.set_title(f"{title}: {len(nodes)} sub-packages, {len(counts)} import edges, {len(both)} cycles (red)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(ROOT), help="a checkout holding liver3d/")
    p.add_argument("--out", default=str(ROOT / "docs" / "images" / "imports.png"))
    p.add_argument("--title", default="liver3d imports")
    args = p.parse_args(argv)
    counts = edges(Path(args.root) / "liver3d")
    draw(counts, Path(args.out), args.title)
    for (a, b), n in sorted(counts.items()):
        print(f"{a} -> {b} ({n})")
    print("cycles:", ", ".join(f"{a} <-> {b}" for a, b in cycles(counts)) or "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
