"""A montage of phantoms per contrast phase, optionally next to real CTs (``python -m liver3d.phantoms --montage``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from liver3d.io.readers import read_volume
from liver3d.phantoms.anatomy import generate_phantom
from liver3d.phantoms.contrast import Phase
from liver3d.viz.phase_montage import save_phase_montage


def write_phase_montage(
    path: str | Path, seed: int = 0, matrix: int = 256, real: Sequence[str | Path] = (), per_phase: int = 2
) -> Path:
    """Two phantoms per phase (seed ``seed``, cases ``[seed, 9000 + phase, i]``) and each real CT given."""
    cases = []
    for p_index, phase in enumerate(Phase):
        for i in range(per_phase):
            case = generate_phantom(
                np.random.default_rng([seed, 9000 + p_index, i]),
                matrix=matrix,
                phase=phase,
                scan_range="abdomen",
            )
            kinds = sorted({t.pattern for t in case.tumors}) or ["no lesion"]
            title = f"{phase.value}, {case.params['liver_condition']}: {', '.join(kinds)}"
            cases.append((title, case.image, case.label, case.affine_ras))
    return save_phase_montage(cases + _real_cases(real), path, columns=per_phase)


def _real_cases(real: Sequence[str | Path]) -> list[tuple]:
    """Montage rows of real CTs: (title, HU, no label, affine)."""
    volumes = [(Path(source).name, read_volume(source)) for source in real]
    return [(f"real CT: {name}", v.array, None, v.affine) for name, v in volumes]


def write_dataset_montage(
    dataset_json: str | Path, path: str | Path, real: Sequence[str | Path] = (), columns: int = 2
) -> Path:
    """The first case of each contrast phase in a ``dataset.json`` (for example real-background variants in
    every phase, ``liver3d real-background --to-phases ... --montage``) and each real CT given, one figure."""
    from liver3d.data import load_datalist

    dataset_json = Path(dataset_json)
    firsts: dict[str, dict] = {}
    for entry in load_datalist(dataset_json):
        firsts.setdefault(entry.get("phase", "?"), entry)
    cases = []
    for phase in [p.value for p in Phase if p.value in firsts] + sorted(
        set(firsts) - {p.value for p in Phase}
    ):
        entry = firsts[phase]
        volume, label = read_volume(entry["image"]), read_volume(entry["label"])
        title = f"{entry['case_id']}: {phase}"
        cases.append((title, volume.array, np.asarray(label.array), volume.affine))
    return save_phase_montage(cases + _real_cases(real), path, columns=columns)
