"""Search spaces as config data: ``{config id: {"type": ..., ...}}`` turned into Optuna suggestions.

Types: ``categorical`` (``choices``), ``float`` (``low``, ``high``, optional ``log``, ``step``),
``int`` (``low``, ``high``, optional ``step``, ``log``). The config id may be nested (``optimizer#lr``).

Example (seed 003's Hyperband space)::

    {"head_hidden": {"type": "categorical", "choices": [128, 256, 512]},
     "head_dropout": {"type": "float", "low": 0.3, "high": 0.7},
     "lr_gamma": {"type": "float", "low": 0.1, "high": 0.5}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TYPES = ("categorical", "float", "int")


def validate_space(space: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
    """Check every parameter's spec; raises ValueError naming the parameter and what is wrong."""
    if not space:
        raise ValueError("search_space is empty")
    checked = {}
    for name, spec in space.items():
        kind = spec.get("type")
        if kind not in TYPES:
            raise ValueError(f"search_space[{name!r}]: type must be one of {TYPES}, got {kind!r}")
        if kind == "categorical":
            if not spec.get("choices"):
                raise ValueError(f"search_space[{name!r}]: categorical needs a non-empty 'choices' list")
        else:
            if "low" not in spec or "high" not in spec or not spec["low"] < spec["high"]:
                raise ValueError(f"search_space[{name!r}]: {kind} needs 'low' < 'high', got {dict(spec)}")
        checked[name] = dict(spec)
    return checked


def suggest(trial, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One value per parameter from an Optuna ``trial``."""
    values = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "categorical":
            values[name] = trial.suggest_categorical(name, list(spec["choices"]))
        elif kind == "float":
            values[name] = trial.suggest_float(
                name,
                float(spec["low"]),
                float(spec["high"]),
                log=bool(spec.get("log")),
                step=spec.get("step"),
            )
        else:
            values[name] = trial.suggest_int(
                name,
                int(spec["low"]),
                int(spec["high"]),
                step=int(spec.get("step", 1)),
                log=bool(spec.get("log")),
            )
    return values
