"""Ready-made transform chains for Python users; bundle configs list the same transforms as data."""

from __future__ import annotations

from collections.abc import Sequence

from monai.transforms import Compose, EnsureChannelFirstd, Orientationd, Spacingd

from liver3d.transforms.intensity import WindowHUd, WindowSpec
from liver3d.transforms.io import LoadVolumed, ValidateCTd

# Axis codes are read in NIfTI's RAS world, as MONAI affines are (its pre-1.5 default, stated explicitly).
RAS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))


def geometry_transforms(
    keys: Sequence[str] = ("image", "label"),
    pixdim: Sequence[float] = (1.5, 1.5, 2.0),
    axcodes: str = "RAS",
    modes: Sequence[str] = ("bilinear", "nearest"),
) -> list:
    """Reorient to ``axcodes`` and resample to ``pixdim`` mm; both are undone by MONAI's ``Invertd``."""
    return [
        Orientationd(keys=list(keys), axcodes=axcodes, labels=RAS_LABELS),
        Spacingd(keys=list(keys), pixdim=tuple(pixdim), mode=tuple(modes[: len(keys)])),
    ]


def ct_preprocessing(
    keys: Sequence[str] = ("image", "label"),
    pixdim: Sequence[float] | None = (1.5, 1.5, 2.0),
    axcodes: str = "RAS",
    window: WindowSpec | None = "liver",
) -> Compose:
    """Load, validate, reorient, resample and window a CT (and its label when ``keys`` has one).

    Example:
        >>> pre = ct_preprocessing(pixdim=(1.5, 1.5, 2.0), window="liver")  # doctest: +SKIP
        >>> sample = pre({"image": "ct.nii.gz", "label": "seg.nii.gz"})
    """
    keys = list(keys)
    transforms: list = [
        LoadVolumed(keys),
        EnsureChannelFirstd(keys),
        ValidateCTd(image_key=keys[0], label_key=keys[1] if len(keys) > 1 else None),
    ]
    if pixdim is not None:
        transforms += geometry_transforms(keys, pixdim, axcodes)
    elif axcodes:
        transforms.append(Orientationd(keys=keys, axcodes=axcodes, labels=RAS_LABELS))
    if window is not None:
        transforms.append(WindowHUd(keys[0], window))
    return Compose(transforms)
