"""The error type for unusable inputs: one file (or option) and one problem, shown as ``<path>: <problem>``.

Library code raises a subclass (:class:`~liver3d.io.readers.VolumeError`, :class:`~liver3d.networks.weights.WeightsError`,
:class:`~liver3d.io.archive.ArchiveError`, :class:`~liver3d.data.datalist.DatalistError`, ...), never
``SystemExit``. A check that finds several problems raises one error carrying all of them (``findings``).
Command-line front ends turn it into ``ERROR <path>: <problem>`` lines and exit code 1; inside a bundle run,
:func:`liver3d.bundle_support.checked` does the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class InputError(ValueError):
    """An input that cannot be used: ``path`` (what the user gave) and ``problem`` (one sentence).

    ``findings`` lists every (path, problem) a check found; it defaults to this one.
    """

    def __init__(
        self, path: str | Path, problem: str, findings: Sequence[tuple[str, str]] | None = None
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.findings = [(str(p), str(q)) for p, q in findings] if findings else [(self.path, problem)]
        super().__init__(f"{path}: {problem}")

    def lines(self) -> list[str]:
        """One ``ERROR <path>: <problem>`` line per finding."""
        return [f"ERROR {path}: {problem}" for path, problem in self.findings]
