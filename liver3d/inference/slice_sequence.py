"""Slice calls that see their neighbours: liver-versus-tumor evidence averaged along z within one volume.

A 2D/2.5D classifier calls each axial slice on its own, yet a lesion spans several slices (a 20 mm lesion at
4 mm spacing: five) and so does a liver without one. :func:`smooth_liver_tumor_calls` keeps each slice's
background probability (whether the slice holds liver at all is the slice's own business) and replaces its
split of the rest between liver and tumor by the mean tumor-versus-liver log-odds of the slices within
``radius`` of it, each weighted by its own probability of holding liver (1 - background), so slices without
liver carry no vote. ``radius`` 0 returns the probabilities unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_TINY = 1e-6


def smooth_liver_tumor_calls(
    probs: np.ndarray,
    radius: int,
    positions: Sequence[int] | None = None,
    background: int = 0,
    liver: int = 1,
    tumor: int = 2,
) -> np.ndarray:
    """(Z, C) slice probabilities of one volume -> the same with the liver/tumor split averaged along z.

    ``positions``: each row's axial slice index (default: the rows are slices 0, 1, 2, ... in order); rows may
    come in any order and slices may be missing (a missing slice has no vote), but no index may repeat.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] <= max(background, liver, tumor):
        raise ValueError(
            f"expected (slices, classes) probabilities with classes {(background, liver, tumor)}, got {probs.shape}"
        )
    if radius < 0:
        raise ValueError(f"radius must be 0 or more slices, got {radius}")
    if radius == 0 or len(probs) == 0:
        return probs.copy()
    where = np.arange(len(probs)) if positions is None else np.asarray(positions, dtype=int)
    if where.shape != (len(probs),) or len(np.unique(where)) != len(where):
        raise ValueError("one distinct slice position per row of probabilities")
    where = where - where.min()
    log_odds = np.log(np.clip(probs[:, tumor], _TINY, 1)) - np.log(np.clip(probs[:, liver], _TINY, 1))
    holds_liver = np.zeros(where.max() + 1)
    votes = np.zeros(where.max() + 1)
    holds_liver[where] = 1.0 - probs[:, background]
    votes[where] = holds_liver[where] * log_odds
    window = np.ones(2 * radius + 1)
    centred = where + radius  # the full convolution's index of each row's window centre
    votes = np.convolve(votes, window, mode="full")[centred]
    weights = np.convolve(holds_liver, window, mode="full")[centred]
    smoothed = np.where(weights > _TINY, votes / np.maximum(weights, _TINY), log_odds)
    out = probs.copy()
    rest = probs[:, liver] + probs[:, tumor]
    out[:, tumor] = rest / (1.0 + np.exp(-smoothed))
    out[:, liver] = rest - out[:, tumor]
    return out


def smooth_by_volume(
    probs: np.ndarray, volumes: Sequence, positions: Sequence[int], radius: int, **classes: int
) -> np.ndarray:
    """:func:`smooth_liver_tumor_calls` for rows of many volumes in any order: ``volumes[i]`` names the volume of
    row i and ``positions[i]`` its axial slice index; rows come back in their given order."""
    probs = np.asarray(probs, dtype=np.float64)
    volumes, positions = np.asarray([str(v) for v in volumes]), np.asarray(positions)
    if not (len(volumes) == len(positions) == len(probs)):
        raise ValueError("one volume name and one slice position per row of probabilities")
    out = probs.copy()
    for name in dict.fromkeys(volumes.tolist()):
        rows = np.flatnonzero(volumes == name)
        try:
            out[rows] = smooth_liver_tumor_calls(probs[rows], radius, positions[rows], **classes)
        except ValueError as error:
            raise ValueError(f"volume {name!r}: {error}") from None
    return out
