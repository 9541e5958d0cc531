"""Named CT windows (``configs/windows.json``): level and width in Hounsfield units.

Example:
    >>> from liver3d.windows import window_bounds
    >>> window_bounds("liver")
    (-100.0, 200.0)
"""

from __future__ import annotations

import json
from functools import lru_cache

from liver3d.paths import config_path


@lru_cache(maxsize=1)
def window_presets() -> dict[str, dict]:
    with open(config_path("windows.json"), encoding="utf-8") as f:
        return json.load(f)["windows"]


def window_bounds(
    name: str | None = None,
    lower: float | None = None,
    upper: float | None = None,
    level: float | None = None,
    width: float | None = None,
) -> tuple[float, float]:
    """(lower, upper) HU of a window given by preset name, by bounds, or by level and width."""
    given = [name is not None, lower is not None or upper is not None, level is not None or width is not None]
    if sum(given) != 1:
        raise ValueError("give exactly one of: a preset name, lower and upper, or level and width")
    if name is not None:
        presets = window_presets()
        if name not in presets:
            raise ValueError(f"unknown window {name!r}; presets: {', '.join(sorted(presets))}")
        level, width = presets[name]["level"], presets[name]["width"]
    if level is not None or width is not None:
        if level is None or width is None:
            raise ValueError("level and width go together")
        lower, upper = level - width / 2.0, level + width / 2.0
    if lower is None or upper is None or not upper > lower:
        raise ValueError(f"window needs lower < upper, got {lower}, {upper}")
    return float(lower), float(upper)
