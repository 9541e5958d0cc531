"""Turning an uploaded file into a checked input on disk, under a name the server chooses.

The client's file name is used only for its suffix (what kind of file it is) and, shortened, in messages
and download names; it never becomes a path. A zipped DICOM series (or one zipped NIfTI) is unpacked by
:func:`liver3d.io.archive.unpack_ct_zip` (numbered files, no member path used, count and size limits). Every volume then goes through the foundation's checker
(:func:`liver3d.data.checks.check_pair`) and every 2D image through :func:`liver3d.io.read_image_2d`
before any model sees it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from liver3d.data.checks import check_pair
from liver3d.io.archive import MAX_UNPACK_RATIO, ArchiveError, unpack_ct_zip
from liver3d.io.images2d import RASTER_SUFFIXES, read_image_2d
from liver3d.io.readers import VolumeError, read_header
from liver3d.labels import load_label_table

VOLUME_SUFFIXES = (".nii.gz", ".nii")
ZIP_SUFFIXES = (".zip",)
IMAGE_SUFFIXES = (*RASTER_SUFFIXES, ".dcm")
ACCEPTED_SUFFIXES = (*VOLUME_SUFFIXES, *ZIP_SUFFIXES, *IMAGE_SUFFIXES)


class UploadError(ValueError):
    """An upload that cannot be used; the message names the uploaded file and the problem."""


@dataclass(frozen=True)
class StagedInput:
    """A checked input on disk: ``kind`` is "volume" (NIfTI file or DICOM series folder) or "image2d"."""

    kind: str
    path: Path
    display_name: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...]

    @property
    def stem(self) -> str:
        """The display name without its suffix, for download names (``case_007`` from ``case_007.nii.gz``)."""
        name = self.display_name
        for suffix in ACCEPTED_SUFFIXES:
            if name.lower().endswith(suffix):
                return name[: -len(suffix)] or "upload"
        return name or "upload"


def display_name(client_name: str) -> str:
    """The client's file name reduced to a safe base name for messages and downloads (no folders)."""
    base = re.split(r"[\\/]", client_name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base).strip(" .")
    return base[:120] or "upload"


def suffix_of(client_name: str) -> str:
    """The accepted suffix the client's name ends with, or an :class:`UploadError`."""
    lower = (client_name or "").lower()
    for suffix in ACCEPTED_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    raise UploadError(
        f"{display_name(client_name)}: not a supported file; upload a NIfTI volume (.nii, .nii.gz), a zipped "
        f"DICOM series (.zip) or a 2D image ({', '.join(IMAGE_SUFFIXES)})"
    )


def stage_upload(client_name: str, data: bytes, workdir: str | Path, max_bytes: int) -> StagedInput:
    """Write ``data`` under ``workdir`` (created, emptied first), check it, and describe it.

    Raises :class:`UploadError` for anything unusable; ``workdir`` is left empty then.
    """
    name = display_name(client_name)
    if len(data) > max_bytes:
        raise UploadError(
            f"{name}: {len(data) / 2**20:.1f} MB is over the upload limit of {max_bytes / 2**20:.0f} MB"
        )
    if not data:
        raise UploadError(f"{name}: the file is empty")
    suffix = suffix_of(client_name)
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    try:
        if suffix in ZIP_SUFFIXES:
            try:
                path = unpack_ct_zip(data, workdir, name, max_bytes * MAX_UNPACK_RATIO)
            except ArchiveError as err:
                raise UploadError(str(err)) from err
        else:
            path = workdir / f"input{suffix}"
            path.write_bytes(data)
        if suffix in IMAGE_SUFFIXES:
            return _checked_image(path, name)
        return _checked_volume(path, name)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        raise


def _checked_volume(path: Path, name: str) -> StagedInput:
    allowed = list(load_label_table().values)
    errors = [f for f in check_pair(str(path), None, allowed) if f.severity == "ERROR"]
    if errors:
        problems = "; ".join(f.problem for f in errors)
        raise UploadError(f"{name}: {problems}")
    header = read_header(path)
    return StagedInput("volume", path, name, tuple(header.shape[:3]), header.spacing[:3])


def _checked_image(path: Path, name: str) -> StagedInput:
    try:
        array = read_image_2d(path, 1)
    except VolumeError as err:
        raise UploadError(f"{name}: {err.problem}") from err
    return StagedInput("image2d", path, name, tuple(array.shape[1:]), (1.0, 1.0))
