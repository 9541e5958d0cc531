"""The error type for unusable inputs: one file (or option) and one problem, shown as ``<path>: <problem>``.

Library code raises a subclass (:class:`~liver3d.io.readers.VolumeError`, :class:`~liver3d.networks.weights.WeightsError`,
:class:`~liver3d.io.archive.ArchiveError`, ...); command-line front ends turn it into one
``ERROR <path>: <problem>`` line and exit code 1.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """An input that cannot be used: ``path`` (what the user gave) and ``problem`` (one sentence)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
