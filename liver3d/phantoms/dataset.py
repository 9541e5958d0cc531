"""Write phantom cases as a Decathlon-style dataset: ``imagesTr/``, ``labelsTr/`` and ``dataset.json``.

With ``tissues=True`` each case also gets ``tissuesTr/<case>.nii.gz``, its uint8 tissue map
(:class:`liver3d.phantoms.Tissue` values) on the image's grid, for per-tissue intensity augmentation.
"""

from __future__ import annotations

import multiprocessing as mp
from functools import partial
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel import orientations

from liver3d.io.atomic import write_json_atomic
from liver3d.io.nifti import save_nifti
from liver3d.labels import load_label_table
from liver3d.phantoms.anatomy import GENERATOR_VERSION, ORIENTATIONS, PhantomCase, generate_phantom


def reorient(array: np.ndarray, affine: np.ndarray, axcodes: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``array`` and ``affine`` re-stored so the voxel axes point along ``axcodes`` (e.g. "LPS").

    The world position of every voxel is unchanged; only the storage order and the header differ.
    """
    current = orientations.io_orientation(affine)
    target = orientations.axcodes2ornt(tuple(axcodes))
    transform = orientations.ornt_transform(current, target)
    new_array = orientations.apply_orientation(array, transform)
    new_affine = affine @ orientations.inv_ornt_aff(transform, array.shape)
    return np.ascontiguousarray(new_array), new_affine


def _case_id(prefix: str, seed: int, index: int) -> str:
    return f"{prefix}_s{seed}_{index:03d}"


def write_case(
    index: int,
    out_dir: Path,
    seed: int,
    shape: tuple[int, int, int] | None,
    n_tumors: int | None,
    prefix: str,
    matrix: int = 512,
    phase: str | None = None,
    scan_range: str | None = None,
    tissues: bool = False,
    twin: bool = False,
) -> dict:
    """Generate case ``index`` of dataset ``seed`` and write its image and label; return its datalist entry.

    ``twin``: write the case's lesion-free twin instead (``<case id>_twin``): the same patient, anatomy, phase
    and acquisition settings with no lesions planted and its own noise draw (the generator draws lesions
    after the anatomy, so everything before them is the same).
    """
    case: PhantomCase = generate_phantom(
        np.random.default_rng([seed, index]),
        shape=shape,
        n_tumors=0 if twin else n_tumors,
        matrix=matrix,
        phase=phase,
        scan_range=scan_range,
    )
    header_rng = np.random.default_rng([seed, index, 1])
    axcodes = ORIENTATIONS[int(header_rng.integers(len(ORIENTATIONS)))]
    # Scanner coordinates: the patient's origin sits somewhere along the table.
    world_shift = np.array(
        [header_rng.uniform(-20, 20), header_rng.uniform(-200, -100), header_rng.uniform(-800, -300)]
    )
    affine = case.affine_ras.copy()
    affine[:3, 3] += world_shift
    image, image_affine = reorient(case.image, affine, axcodes)
    label, _ = reorient(case.label, affine, axcodes)
    original_id = _case_id(prefix, seed, index)
    case_id = f"{original_id}_twin" if twin else original_id
    image_rel, label_rel = f"imagesTr/{case_id}.nii.gz", f"labelsTr/{case_id}.nii.gz"
    save_nifti(image.astype(np.int16), image_affine, out_dir / image_rel)
    save_nifti(label.astype(np.uint8), image_affine, out_dir / label_rel)
    extra = {}
    if tissues and case.tissue is not None:
        tissue, _ = reorient(case.tissue, affine, axcodes)
        extra["tissue"] = f"tissuesTr/{case_id}.nii.gz"
        save_nifti(tissue.astype(np.uint8), image_affine, out_dir / extra["tissue"])
    return {
        "image": image_rel,
        "label": label_rel,
        **extra,
        "case_id": case_id,
        "patient_id": f"P{seed:04d}-{index:04d}",
        **({"twin_of": original_id} if twin else {}),
        "orientation": axcodes,
        "shape": [int(n) for n in image.shape],
        "spacing_mm": [float(abs(v)) for v in nib.affines.voxel_sizes(image_affine)],
        "has_tumor": bool(case.tumors),
        "liver_volume_ml": float((case.label > 0).sum() * np.prod(case.grid.spacing) / 1000.0),
        "tumors": [
            {
                "center_mm": [float(c) for c in np.add(t.center_mm, world_shift)],
                "radii_mm": [float(r) for r in t.radii_mm],
                "equivalent_diameter_mm": round(t.equivalent_diameter_mm, 2),
                "volume_ml": round(t.volume_ml, 4),
                "hu": round(t.hu, 1),
                "pattern": t.pattern,
            }
            for t in case.tumors
        ],
        "phase": case.params["phase"],
        "liver_condition": case.params["liver_condition"],
        "scan_range": case.params["scan_range"],
        "phantom": _rounded(case.params),
    }


def write_case_and_twin(index: int, twins: bool = False, **case_options) -> list[dict]:
    """Case ``index`` (:func:`write_case`) and, with ``twins`` and when it has lesions, its lesion-free twin."""
    entry = write_case(index, **case_options)
    if not (twins and entry["has_tumor"]):
        return [entry]
    return [entry, write_case(index, twin=True, **case_options)]


def _rounded(value):
    """Parameters as JSON: floats to 2 decimals, nested dicts and lists kept."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    return round(float(value), 2)


def write_phantom_dataset(
    out_dir: str | Path,
    cases: int,
    seed: int = 0,
    shape: tuple[int, int, int] | None = None,
    n_tumors: int | None = None,
    workers: int = 1,
    prefix: str = "liver_phantom",
    matrix: int = 512,
    phase: str | None = None,
    scan_range: str | None = None,
    tissues: bool = False,
    twins: bool = False,
) -> Path:
    """Generate ``cases`` phantoms into ``out_dir``; return the path of its ``dataset.json``.

    Case ``i`` of seed ``s`` is the same whatever ``cases`` or ``workers`` are, so datasets can grow.
    ``twins`` adds, after each case with lesions, its lesion-free twin (same patient id, so a split by
    patient keeps the pair together): a slice classifier trained with twins can only tell a tumor slice from
    a liver slice by the lesion, not by where in the liver the slice lies.

    Example:
        >>> write_phantom_dataset("phantoms", cases=4, seed=0, shape=(96, 96, 48))  # doctest: +SKIP
        PosixPath('phantoms/dataset.json')
    """
    if cases < 1:
        raise ValueError(f"cases must be >= 1, got {cases}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    job = partial(
        write_case_and_twin,
        twins=twins,
        out_dir=out_dir,
        seed=seed,
        shape=shape,
        n_tumors=n_tumors,
        prefix=prefix,
        matrix=matrix,
        phase=phase,
        scan_range=scan_range,
        tissues=tissues,
    )
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            written = pool.map(job, range(cases))
    else:
        written = [job(i) for i in range(cases)]
    entries = [entry for pair in written for entry in pair]
    return write_datalist(
        out_dir,
        entries,
        name="liver3d phantoms",
        description=f"Synthetic abdominal CT with liver and tumor labels (liver3d phantoms, seed {seed}).",
        reference="generated by python -m liver3d.phantoms",
        seed=seed,
        generator_version=GENERATOR_VERSION,
        licence="CC0",
    )


def write_datalist(
    out_dir: str | Path,
    entries: list[dict],
    name: str,
    description: str,
    reference: str,
    seed: int,
    generator_version: str,
    licence: str | None = None,
) -> Path:
    """``out_dir/dataset.json`` (Decathlon layout, liver3d's label table) for generated ``entries``, written
    atomically; returns its path."""
    dataset = {
        "name": name,
        "description": description,
        "reference": reference,
        **({"licence": licence} if licence else {}),
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": load_label_table().as_decathlon(),
        "seed": seed,
        "generator_version": generator_version,
        "numTraining": len(entries),
        "numTest": 0,
        "training": entries,
        "test": [],
    }
    return write_json_atomic(Path(out_dir) / "dataset.json", dataset)
