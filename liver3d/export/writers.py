"""Bundle post-processing that writes results next to nothing half-done: NIfTI label maps with the input's
geometry, optional probability maps and 3D Slicer segmentations."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

from liver3d.data.datalist import case_name
from liver3d.export.slicer import write_slicer_segmentation
from liver3d.io.nifti import save_nifti


def _affine(x) -> np.ndarray:
    affine = getattr(x, "affine", None)
    if affine is None:
        raise ValueError("prediction has no affine: run Invertd (or keep MetaTensors) before saving")
    return np.asarray(torch.as_tensor(affine), dtype=np.float64)


class SaveSegmentationd(MapTransform):
    """Write ``<case>_seg.nii.gz`` (uint8 labels) and, optionally, ``<case>.seg.nrrd`` and ``<case>_prob.nii.gz``.

    ``keys`` holds the label map (1, X, Y, Z) already on the input's grid (after ``Invertd``); the case
    name is the file name of the image in its metadata. The paths written go into ``d["outputs"]``.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        output_dir: str | Path = "outputs",
        slicer: bool = True,
        prob_key: str | None = None,
        image_key: str = "image",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_dir = Path(output_dir)
        self.slicer = slicer
        self.prob_key = prob_key
        self.image_key = image_key

    def _case(self, d: Mapping, pred) -> str:
        meta = getattr(pred, "meta", {}) or {}
        source = meta.get("filename_or_obj") or getattr(d.get(self.image_key), "meta", {}).get(
            "filename_or_obj"
        )
        return case_name(str(source)) if source else "case"

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        outputs = dict(d.get("outputs", {}))
        for key in self.key_iterator(d):
            pred = d[key]
            case = self._case(d, pred)
            affine = _affine(pred)
            labels = np.asarray(torch.as_tensor(pred).detach().cpu())
            labels = labels[0] if labels.ndim == 4 else labels
            if not np.issubdtype(labels.dtype, np.integer):
                labels = np.rint(labels)
            # NIfTI and NRRD store x fastest: a Fortran-ordered array is written without per-slice copies.
            labels = np.asfortranarray(labels, dtype=np.uint8)
            # gzip releases the GIL: the NIfTI and the Slicer file are compressed side by side.
            with ThreadPoolExecutor(max_workers=2) as pool:
                nifti = pool.submit(save_nifti, labels, affine, self.output_dir / f"{case}_seg.nii.gz")
                slicer = (
                    pool.submit(
                        write_slicer_segmentation, labels, affine, self.output_dir / f"{case}.seg.nrrd"
                    )
                    if self.slicer
                    else None
                )
                outputs["label_map"] = str(nifti.result())
                if slicer is not None:
                    outputs["slicer"] = str(slicer.result())
            if self.prob_key and self.prob_key in d:
                prob = np.asarray(torch.as_tensor(d[self.prob_key]).detach().cpu(), dtype=np.float32)
                if prob.shape[1:] != labels.shape:
                    raise ValueError(
                        f"{case}: probabilities {prob.shape[1:]} are not on the label map's grid {labels.shape}"
                    )
                # Brought to the input grid beside the labels (inference.json: Invertd), so one affine serves both.
                prob_affine = _affine(d[self.prob_key]) if hasattr(d[self.prob_key], "affine") else affine
                if not np.allclose(prob_affine, affine, atol=1e-3):
                    raise ValueError(f"{case}: probabilities and label map have different affines")
                outputs["probabilities"] = str(
                    save_nifti(np.moveaxis(prob, 0, -1), prob_affine, self.output_dir / f"{case}_prob.nii.gz")
                )
        d["outputs"] = outputs
        return d
