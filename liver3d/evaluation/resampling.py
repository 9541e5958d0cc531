"""Bootstrap resamples of a test set, by sample or by patient.

Slices of one patient are not independent: their errors come together (a hard scan, an unusual phase). A
bootstrap that draws slices one by one treats 224 slices of four patients as 224 independent draws and gives an
interval far narrower than what another four patients would show. Given ``groups`` (a patient id per sample),
:func:`resample_indices` draws whole patients with replacement, every sample of a drawn patient with it (the
cluster bootstrap), so the interval reflects how many patients the set holds.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence

import numpy as np


def resample_indices(
    n: int, groups: Sequence[Hashable] | None = None, n_resamples: int = 1000, seed: int = 0
) -> Iterator[np.ndarray]:
    """``n_resamples`` index arrays into ``n`` samples: each draws ``n`` samples with replacement, or, with
    ``groups`` (one label per sample), as many groups as there are, with replacement, and every sample of each."""
    rng = np.random.default_rng(seed)
    if groups is None:
        for _ in range(n_resamples):
            yield rng.integers(0, n, n)
        return
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} labels for {n} samples")
    members = list(group_members(groups).values())
    for _ in range(n_resamples):
        yield np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])


def group_members(groups: Sequence[Hashable]) -> dict[Hashable, np.ndarray]:
    """Each group label's sample indices, in order of first appearance."""
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    return {g: np.asarray(idx) for g, idx in members.items()}


def percentile_ci(
    statistic: Callable[[np.ndarray], float],
    n: int,
    groups: Sequence[Hashable] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)``; resamples where it is NaN (undefined, e.g. an
    AUC without both classes) are left out; NaN bounds when none is defined."""
    values = [statistic(idx) for idx in resample_indices(n, groups, n_resamples, seed)]
    values = [v for v in values if not np.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    return float(np.quantile(values, alpha / 2)), float(np.quantile(values, 1 - alpha / 2))


def resampling_unit(groups: Sequence[Hashable] | None, n: int, unit: str = "patients") -> dict:
    """What the interval resampled, for a report: ``{"unit": "patients", "n": 16}`` or samples."""
    if groups is None:
        return {"unit": "samples", "n": int(n)}
    return {"unit": unit, "n": len(set(groups))}
