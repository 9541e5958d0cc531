"""Writing a :class:`~liver3d.report.measure.LiverReport`: JSON (the numbers), Markdown and HTML (for people),
with the composite overlay images beside them. Every file is written atomically."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from liver3d.io.atomic import atomic_path
from liver3d.report.measure import LiverReport


def _hu(mean: float | None, std: float | None) -> str:
    return "n/a" if mean is None else f"{mean:.0f} ± {std:.0f}"


def to_markdown(report: LiverReport, images: Sequence[str] = ()) -> str:
    lines = [
        f"# Liver report: {Path(report.source).name}",
        "",
        f"- Segmentation: `{report.source}`" + (f"; CT: `{report.image}`" if report.image else ""),
        f"- Grid: {' x '.join(map(str, report.shape))} voxels of "
        f"{' x '.join(f'{s:g}' for s in report.spacing_mm)} mm ({report.voxel_volume_ml * 1000:.3f} µL per voxel)",
        f"- Liver volume: **{report.liver_volume_ml:.1f} mL** ({report.liver_voxels} voxels; parenchyma "
        f"{report.parenchyma_volume_ml:.1f} mL), mean HU of parenchyma {_hu(report.liver_mean_hu, report.liver_std_hu)}",
        f"- Lesions: **{report.lesion_count}** (3D connected components of the tumor label, 26-connectivity); "
        f"total {report.tumor_volume_ml:.2f} mL; tumor burden **{report.tumor_burden_percent:.2f}%** of the liver",
        "",
    ]
    if report.warnings:
        lines += ["## Warnings", ""] + [f"- **{w['code']}**: {w['message']}" for w in report.warnings] + [""]
    if report.lesions:
        lines += [
            "| # | volume mL | voxels | longest axial diameter mm (slice) | centroid RAS mm | axial slices (S mm) "
            "| position R→L / A→P / top→bottom | mean HU |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for les in report.lesions:
            pos = les.position_in_liver
            lines.append(
                f"| {les.index} | {les.volume_ml:.2f} | {les.voxels} | {les.longest_axial_diameter_mm:.1f} "
                f"({les.diameter_slice}) | {', '.join(f'{c:.1f}' for c in les.centroid_mm)} | "
                f"{les.slice_range[0]}-{les.slice_range[1]} ({les.slice_range_mm[0]:.1f} to {les.slice_range_mm[1]:.1f}) | "
                f"{pos['right_to_left']:.2f} / {pos['anterior_to_posterior']:.2f} / {pos['top_to_bottom']:.2f} | "
                f"{_hu(les.mean_hu, les.std_hu)} |"
            )
        lines.append("")
    lines += [
        "Slices are RAS axial indices (0 = most inferior). Positions are fractions of the liver's own extent "
        "(0 = patient's right / anterior / top of the liver). Volumes are voxel counts times the voxel volume.",
        "",
    ]
    lines += [f"![{Path(p).stem}]({Path(p).name})" for p in images]
    return "\n".join(lines) + "\n"


def to_html(markdown_text: str, images: Sequence[str] = ()) -> str:
    """A self-contained page: the Markdown text pre-formatted, then the images (same folder)."""
    body = html.escape("\n".join(line for line in markdown_text.splitlines() if not line.startswith("![")))
    figures = "".join(
        f'<figure><img src="{html.escape(Path(p).name)}" style="max-width:100%"><figcaption>'
        f"{html.escape(Path(p).stem)}</figcaption></figure>"
        for p in images
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>liver3d report</title></head>"
        f"<body style='font-family:sans-serif;max-width:1100px;margin:auto'><pre>{body}</pre>{figures}</body></html>\n"
    )


def write_report(
    report: LiverReport, out_dir: str | Path, images: Sequence[str | Path] = ()
) -> dict[str, Path]:
    """``report.json``, ``report.md`` and ``report.html`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [str(p) for p in images]
    markdown_text = to_markdown(report, names)
    paths = {"json": out / "report.json", "markdown": out / "report.md", "html": out / "report.html"}
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    with atomic_path(paths["markdown"]) as tmp:
        tmp.write_text(markdown_text, encoding="utf-8")
    with atomic_path(paths["html"]) as tmp:
        tmp.write_text(to_html(markdown_text, names), encoding="utf-8")
    for index, image in enumerate(images):
        paths["figure" if index == 0 else f"figure_{index + 1}"] = Path(image)
    return paths
