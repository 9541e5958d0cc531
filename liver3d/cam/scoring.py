"""Scoring CAM pseudo-masks against label maps, per volume (3D) and per axial slice (2D, the seed's protocol).

For each structure (e.g. tumor) and each case the threshold is swept; the reported threshold is the one with
the best *mean* IoU over all cases (or all slices), as in seed 000's Table 1, so it is one number for the
data set, not tuned per case. The per-case best ("oracle") is reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from liver3d.cam.pseudomask import sweep_thresholds
from liver3d.evaluation.metrics import bootstrap_ci

SEED_000_IOU = {"tumor": 0.1396, "liver": 0.1169}  # seed 000, Table 1: 2D slices, ResNet-50 layer4 Grad-CAM


def seed_thresholds() -> tuple[float, ...]:
    """``np.linspace(0.5, 0.99, 20)``, as in seed 000."""
    return tuple(round(float(t), 4) for t in np.linspace(0.5, 0.99, 20))


@dataclass
class SweepRecord:
    """IoU and Dice at every threshold for one case (``index`` None) or one slice of it."""

    case_id: str
    structure: str
    reference_voxels: int
    ious: np.ndarray
    dices: np.ndarray
    index: int | None = None


@dataclass
class CamScores:
    """All sweep records of an evaluation, per protocol ("volume" or "slice")."""

    thresholds: tuple[float, ...]
    records: dict[str, list[SweepRecord]] = field(default_factory=lambda: {"volume": [], "slice": []})

    def score_case(
        self,
        case_id: str,
        structure: str,
        cam_ras: np.ndarray,
        reference_ras: np.ndarray,
        opening_radius: int = 1,
        closing_radius: int = 1,
    ) -> None:
        """Sweep one case in 3D and on each axial slice (last axis) that contains the structure.

        Cases without the structure are skipped (the seed scored tumor CAMs on tumor images only).
        """
        reference_ras = np.asarray(reference_ras, bool)
        if not reference_ras.any():
            return
        sweep = sweep_thresholds(cam_ras, reference_ras, self.thresholds, opening_radius, closing_radius)
        self.records["volume"].append(
            SweepRecord(
                case_id, structure, int(reference_ras.sum()), np.array(sweep.ious), np.array(sweep.dices)
            )
        )
        for z in np.flatnonzero(reference_ras.any(axis=(0, 1))):
            sweep = sweep_thresholds(
                cam_ras[:, :, z], reference_ras[:, :, z], self.thresholds, opening_radius, closing_radius
            )
            self.records["slice"].append(
                SweepRecord(
                    case_id,
                    structure,
                    int(reference_ras[:, :, z].sum()),
                    np.array(sweep.ious),
                    np.array(sweep.dices),
                    int(z),
                )
            )

    def structures(self) -> list[str]:
        return list(dict.fromkeys(r.structure for rs in self.records.values() for r in rs))

    def groups(self):
        """(structure, protocol, records) for every structure and protocol that has records."""
        for structure in self.structures():
            for protocol in ("volume", "slice"):
                records = [r for r in self.records[protocol] if r.structure == structure]
                if records:
                    yield structure, protocol, records

    def common_threshold(self, protocol: str, structure: str) -> int:
        """Index of the threshold with the best mean IoU over the structure's records."""
        records = [r for r in self.records[protocol] if r.structure == structure]
        return int(np.argmax(np.mean([r.ious for r in records], axis=0))) if records else 0

    def summary(self, n_bootstrap: int = 2000, seed: int = 0) -> list[dict]:
        rows = []
        for structure, protocol, records in self.groups():
            k = self.common_threshold(protocol, structure)
            ious = [float(r.ious[k]) for r in records]
            dices = [float(r.dices[k]) for r in records]
            cases = [r.case_id for r in records]  # slices of one case are resampled together
            rows.append(
                {
                    "structure": structure,
                    "protocol": protocol,
                    "n": len(records),
                    "n_cases": len(set(cases)),
                    "threshold": self.thresholds[k],
                    "iou": float(np.mean(ious)),
                    "iou_ci95": list(bootstrap_ci(ious, n_bootstrap, seed=seed, groups=cases)),
                    "dice": float(np.mean(dices)),
                    "dice_ci95": list(bootstrap_ci(dices, n_bootstrap, seed=seed, groups=cases)),
                    "oracle_iou": float(np.mean([r.ious.max() for r in records])),
                    "max_iou": float(max(ious)),
                    "zero_iou_fraction": float(np.mean([v == 0 for v in ious])),
                    "seed_000_iou": SEED_000_IOU.get(structure, math.nan),
                }
            )
        return rows

    def per_case_rows(self) -> list[dict]:
        rows = []
        for r in self.records["volume"]:
            k = self.common_threshold("volume", r.structure)
            best = int(np.argmax(r.ious))
            rows.append(
                {
                    "case_id": r.case_id,
                    "structure": r.structure,
                    "reference_voxels": r.reference_voxels,
                    "threshold": self.thresholds[k],
                    "iou": round(float(r.ious[k]), 5),
                    "dice": round(float(r.dices[k]), 5),
                    "best_threshold": self.thresholds[best],
                    "best_iou": round(float(r.ious[best]), 5),
                    "best_dice": round(float(r.dices[best]), 5),
                }
            )
        return rows

    def per_slice_rows(self) -> list[dict]:
        rows = []
        for r in self.records["slice"]:
            k = self.common_threshold("slice", r.structure)
            rows.append(
                {
                    "case_id": r.case_id,
                    "structure": r.structure,
                    "slice_ras_z": r.index,
                    "reference_pixels": r.reference_voxels,
                    "threshold": self.thresholds[k],
                    "iou": round(float(r.ious[k]), 5),
                    "dice": round(float(r.dices[k]), 5),
                    "best_iou": round(float(r.ious.max()), 5),
                }
            )
        return rows

    def sweep_rows(self) -> list[dict]:
        rows = []
        for structure, protocol, records in self.groups():
            ious = np.mean([r.ious for r in records], axis=0)
            dices = np.mean([r.dices for r in records], axis=0)
            for t, i, d in zip(self.thresholds, ious, dices):
                rows.append(
                    {
                        "structure": structure,
                        "protocol": protocol,
                        "threshold": t,
                        "mean_iou": round(float(i), 5),
                        "mean_dice": round(float(d), 5),
                    }
                )
        return rows

    def ranked_cases(self, structure: str) -> list[tuple[str, float]]:
        """(case, IoU at the common threshold), best first."""
        k = self.common_threshold("volume", structure)
        pairs = [(r.case_id, float(r.ious[k])) for r in self.records["volume"] if r.structure == structure]
        return sorted(pairs, key=lambda p: -p[1])


def format_cam_table(summary: Sequence[dict]) -> str:
    """Markdown: one row per structure and protocol, the seed's IoU beside ours. The CIs resample cases (a
    slice's case with all its slices)."""
    lines = [
        "| structure | protocol | n (cases) | threshold | IoU [95% CI] | Dice [95% CI] | per-item best IoU | "
        "zero-IoU share | seed 000 IoU |",
        "|" + "---|" * 9,
    ]
    for r in summary:
        cases = r.get("n_cases", r["n"])
        lines.append(
            f"| {r['structure']} | {r['protocol']} | {r['n']} ({cases}) | {r['threshold']:.2f} | "
            f"{r['iou']:.3f} [{r['iou_ci95'][0]:.3f}, {r['iou_ci95'][1]:.3f}] | "
            f"{r['dice']:.3f} [{r['dice_ci95'][0]:.3f}, {r['dice_ci95'][1]:.3f}] | {r['oracle_iou']:.3f} | "
            f"{r['zero_iou_fraction']:.2f} | {r['seed_000_iou']:.3f} |"
        )
    return "\n".join(lines)
