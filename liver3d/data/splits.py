"""Patient-level splits: no patient ever has scans on both sides of a split.

The reference studies split slices at random, so neighbouring slices of one patient land in both train
and test and inflate the scores. Here the unit of splitting is the patient (``patient_id``), optionally
stratified (e.g. by ``has_tumor``) so each side keeps the class balance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from liver3d.errors import InputError


class SplitError(InputError):
    """A split that leaves a part a bundle needs empty."""


def group_by_patient(entries: Sequence[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for entry in entries:
        if "patient_id" not in entry:
            raise ValueError(f"entry without patient_id: {entry.get('image', entry)}")
        groups[str(entry["patient_id"])].append(entry)
    return dict(groups)


def _ordered_patients(groups: dict[str, list[dict]], seed: int, stratify_key: str | None) -> list[list[str]]:
    """Patients shuffled within strata.

    A patient's stratum is the largest value of ``stratify_key`` over its scans: for a flag such as
    ``has_tumor``, whether any scan has it; for a class index (``label``), the patient's (highest) class.
    """
    rng = np.random.default_rng(seed)
    strata: dict[int, list[str]] = defaultdict(list)
    for pid in sorted(groups):
        key = max(int(e.get(stratify_key) or 0) for e in groups[pid]) if stratify_key else 0
        strata[key].append(pid)
    ordered = []
    for key in sorted(strata):
        pids = strata[key]
        ordered.append([pids[i] for i in rng.permutation(len(pids))])
    return ordered


def split_by_patient(
    entries: Sequence[dict],
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    stratify_key: str | None = "has_tumor",
) -> dict[str, list[dict]]:
    """Split entries into ``train``, ``val`` and ``test`` by patient.

    Fractions count patients, not scans; each stratum is split in the same proportions, rounding so that
    a non-zero fraction gets at least one patient when the stratum has three or more.
    """
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"fractions must be in [0, 1) and sum below 1, got val={val_fraction}, test={test_fraction}"
        )
    groups = group_by_patient(entries)
    parts: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for pids in _ordered_patients(groups, seed, stratify_key):
        n = len(pids)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        if n >= 3:
            n_test = max(n_test, 1 if test_fraction > 0 else 0)
            n_val = max(n_val, 1 if val_fraction > 0 else 0)
        n_val = min(n_val, n - n_test - 1) if n - n_test > 1 else 0
        parts["test"] += pids[:n_test]
        parts["val"] += pids[n_test : n_test + n_val]
        parts["train"] += pids[n_test + n_val :]
    return {name: [e for pid in sorted(pids) for e in groups[pid]] for name, pids in parts.items()}


def kfold_by_patient(
    entries: Sequence[dict], folds: int = 5, seed: int = 0, stratify_key: str | None = "has_tumor"
) -> list[dict[str, list[dict]]]:
    """``folds`` train/val splits; every patient is in exactly one validation fold."""
    groups = group_by_patient(entries)
    if folds < 2 or folds > len(groups):
        raise ValueError(f"folds must be between 2 and the number of patients ({len(groups)}), got {folds}")
    assignment: dict[str, int] = {}
    offset = 0
    for pids in _ordered_patients(groups, seed, stratify_key):
        for i, pid in enumerate(pids):
            assignment[pid] = (i + offset) % folds
        offset += len(pids)
    result = []
    for fold in range(folds):
        val = [e for pid in sorted(groups) if assignment[pid] == fold for e in groups[pid]]
        train = [e for pid in sorted(groups) if assignment[pid] != fold for e in groups[pid]]
        result.append({"train": train, "val": val})
    return result


def patients(entries: Sequence[dict]) -> set[str]:
    return {str(e["patient_id"]) for e in entries}


def require_nonempty(split: dict[str, list], parts: Sequence[str] = ("train", "val")) -> dict[str, list]:
    """Stop with a clear message when a split part the bundle needs is empty (too few patients)."""
    empty = [p for p in parts if not split.get(p)]
    if empty:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in split.items())
        raise SplitError(
            "split", f"no cases in {', '.join(empty)} ({sizes}); add patients or raise val_fraction"
        )
    return split
