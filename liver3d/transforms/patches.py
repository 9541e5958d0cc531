"""3D patch sampling balanced between background, liver and tumor (MONAI's ``RandCropByLabelClassesd``)."""

from __future__ import annotations

from collections.abc import Sequence

from monai.config import KeysCollection
from monai.transforms import RandCropByLabelClassesd

from liver3d.labels import load_label_table


class BalancedPatchd(RandCropByLabelClassesd):
    """Draw ``num_samples`` patches per volume whose centres fall on each label class in the given ratios.

    With the default equal ratios a third of the patches are centred on tumor even when tumor is 0.1 % of
    the voxels. A class absent from a case (no tumor) is skipped for that case.

    Args:
        spatial_size: patch size in voxels, e.g. (96, 96, 64).
        ratios: one weight per label of ``configs/labels.json`` (background, liver, tumor); default equal.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str = "label",
        spatial_size: Sequence[int] | int = (96, 96, 64),
        num_samples: int = 4,
        ratios: Sequence[float] | None = None,
        image_key: str | None = None,
        allow_smaller: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        n_classes = len(load_label_table())
        if ratios is not None and len(ratios) != n_classes:
            raise ValueError(f"ratios needs one weight per label ({n_classes}), got {list(ratios)}")
        super().__init__(
            keys,
            label_key=label_key,
            spatial_size=spatial_size,
            ratios=list(ratios) if ratios is not None else [1.0] * n_classes,
            num_classes=n_classes,
            num_samples=num_samples,
            image_key=image_key,
            allow_smaller=allow_smaller,
            allow_missing_keys=allow_missing_keys,
            warn=False,
        )
