"""Map producers under MONAI's evaluator: CAMs, attributions and reconstruction-error maps share one loop.

Every map tool does the same thing per case: preprocess, compute maps on the model's grid, take them back to
the input's grid, save NIfTI, keep a record, and write tables at the end. Here that loop is a MONAI
``Evaluator`` (:class:`MapEvaluator`) whose iteration calls a *producer*, and the rest is handlers, the split
MONAI itself makes between an engine and ``MetricsSaver`` / ``write_metrics_reports``:

- a producer is ``producer(sample) -> {"maps": (C, *model grid) array, "names": [C names], ...}`` on one
  preprocessed case; whatever else it returns (probabilities, scores) stays in ``engine.state.output``;
- :class:`MapsToInputGridSaver` (ITERATION_COMPLETED) inverts the preprocessing for the maps and writes
  ``<case>_<name>.nii.gz``; later handlers read ``output["input_maps"]`` and ``output["input_affine"]``;
- :class:`CaseLog` logs one line per case; :class:`TablesWriter` (COMPLETED) writes what a tool's table
  function returns: ``.csv`` rows, ``.json`` objects and ``.md`` text, each file atomically.

``engine.state.output`` of an iteration: ``case`` (the case id), ``entry`` (the datalist entry, input paths),
``sample`` (the preprocessed case) and the producer's keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.engines import Evaluator
from torch.utils.data import DataLoader, Dataset

from liver3d.data.datalist import entry_case
from liver3d.evaluation.report import write_csv
from liver3d.inference.invert import MapsToInputGrid
from liver3d.io.atomic import atomic_path, write_json_atomic
from liver3d.io.nifti import save_nifti

log = logging.getLogger(__name__)

Producer = Callable[[dict], dict]


class _PreprocessedCases(Dataset):
    """Items ``{"entry": the datalist entry, "sample": preprocessing(entry)}``, one case at a time."""

    def __init__(self, data: Sequence[dict], preprocessing: Callable[[dict], dict]) -> None:
        self.data, self.preprocessing = list(data), preprocessing

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict:
        entry = dict(self.data[index])
        return {"entry": entry, "sample": self.preprocessing(dict(entry))}


def _one_case(items: list[dict]) -> dict:
    return items[0]


class MapEvaluator(Evaluator):
    """MONAI ``Evaluator`` over ``data`` whose iteration is ``producer(preprocessing(entry))``; ``handlers``
    (objects with ``attach(engine)``, in order) save, score and write."""

    def __init__(
        self,
        producer: Producer,
        data: Sequence[dict],
        preprocessing: Callable[[dict], dict],
        handlers: Sequence = (),
        device: str | torch.device = "cpu",
    ) -> None:
        loader = DataLoader(
            _PreprocessedCases(data, preprocessing), batch_size=1, collate_fn=_one_case, num_workers=0
        )
        self.producer = producer
        super().__init__(
            device=torch.device(device),
            val_data_loader=loader,
            iteration_update=self._produce,
            val_handlers=list(handlers),
            decollate=False,
        )

    def _produce(self, engine: Engine, item: dict) -> dict:
        produced = self.producer(item["sample"])
        return {"case": entry_case(item["entry"]), **item, **produced}


class MapsToInputGridSaver:
    """Undo ``preprocessing``'s spatial steps for ``output["maps"]`` (:class:`MapsToInputGrid`), optionally
    clip, and write each channel as ``output_dir / filename.format(case=..., name=...)`` when ``save``."""

    def __init__(
        self,
        preprocessing: Callable[[dict], dict],
        output_dir: str | Path | None = None,
        filename: str = "{case}_{name}.nii.gz",
        save: bool = True,
        clip: tuple[float, float] | None = None,
    ) -> None:
        self.to_input_grid = MapsToInputGrid(preprocessing)
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.filename, self.save, self.clip = filename, save and output_dir is not None, clip

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def on_input_grid(self, sample: dict, maps) -> tuple[np.ndarray, np.ndarray]:
        """``maps`` of the preprocessed ``sample`` on its input grid (clipped when asked) and the input affine."""
        maps, affine = self.to_input_grid(sample, maps)
        return (np.clip(maps, *self.clip) if self.clip is not None else maps), affine

    def __call__(self, engine: Engine) -> None:
        out = engine.state.output
        maps, affine = self.on_input_grid(out["sample"], out["maps"])
        out["input_maps"], out["input_affine"], out["map_paths"] = maps, affine, {}
        if not self.save:
            return
        for name, volume in zip(out["names"], maps):
            path = self.output_dir / self.filename.format(case=out["case"], name=name)
            out["map_paths"][name] = save_nifti(np.asarray(volume, np.float32), affine, path)


class CaseLog:
    """One log line per case: ``[n/total] <message(output)>``."""

    def __init__(self, message: Callable[[dict], str]) -> None:
        self.message = message

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        total = engine.state.epoch_length or "?"
        log.info("%s", f"[{engine.state.iteration}/{total}] {self.message(engine.state.output)}")


def write_tables(output_dir: str | Path, tables: Mapping[str, object]) -> dict[str, Path]:
    """Write ``{relative file name: content}``: ``.csv`` a list of row dicts, ``.json`` any JSON value,
    ``.md`` (or any other suffix) text; each file atomically. Returns the paths by name."""
    written = {}
    for name, content in tables.items():
        path = Path(output_dir) / name
        if path.suffix == ".csv":
            written[name] = write_csv(list(content), path)  # type: ignore[arg-type]
        elif path.suffix == ".json":
            written[name] = write_json_atomic(path, content)
        else:
            with atomic_path(path) as tmp:
                tmp.write_text(str(content).rstrip("\n") + "\n", encoding="utf-8")
            written[name] = path
    return written


class TablesWriter:
    """On COMPLETED, :func:`write_tables` of ``tables(engine)`` into ``output_dir``; the paths land in
    ``engine.state.tables``."""

    def __init__(self, output_dir: str | Path, tables: Callable[[Engine], Mapping[str, object]]) -> None:
        self.output_dir, self.tables = Path(output_dir), tables

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        engine.state.tables = write_tables(self.output_dir, self.tables(engine))


class Collect:
    """On every iteration, append ``record(output)`` (a dict or a list of dicts) to ``self.rows``."""

    def __init__(self, record: Callable[[dict], dict | list[dict]]) -> None:
        self.record, self.rows = record, []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, lambda _: self.rows.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        rows = self.record(engine.state.output)
        self.rows.extend(rows if isinstance(rows, list) else [rows])
