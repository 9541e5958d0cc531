"""Unpacking a zipped CT (a DICOM series, or one NIfTI file) safely, member by member.

No member's own path is ever used: DICOM members become ``00000.dcm``, ``00001.dcm``... and a single NIfTI
member becomes ``volume.nii(.gz)``, so ``../`` or absolute names cannot escape the target folder. Hidden
files (``.DS_Store``, ``__MACOSX/``) are skipped, and the member count and unpacked size are limited (a
zip-bomb guard).
"""

from __future__ import annotations

import io
import re
import shutil
import zipfile
import zlib
from pathlib import Path

from liver3d.errors import InputError

MAX_UNPACK_RATIO = 20  # a zip may unpack to at most this many times its own size
MAX_ZIP_MEMBERS = 5000
NIFTI_MEMBER_SUFFIXES = (".nii.gz", ".nii")


class ArchiveError(InputError):
    """A zip that cannot be used; the message names the archive (``"<name>: <problem>"``)."""


def is_zip(path: str | Path) -> bool:
    """A ``.zip`` file name (any case): what ``liver3d segment`` unpacks before reading."""
    return Path(path).name.lower().endswith(".zip")


def _is_hidden(member: str) -> bool:
    parts = re.split(r"[\\/]", member)
    return any(p.startswith(".") or p == "__MACOSX" for p in parts if p)


def unpack_ct_zip(data: bytes, folder: str | Path, name: str, max_unpacked: int | None = None) -> Path:
    """Unpack a zipped CT into ``folder`` (created); return the NIfTI file or the DICOM series folder.

    Args:
        data: the archive's bytes.
        name: how to call the archive in messages (the user's file name).
        max_unpacked: byte limit for the unpacked members (default ``MAX_UNPACK_RATIO`` x the zip's size).
    """
    folder = Path(folder)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as err:
        raise ArchiveError(name, f"not a readable zip archive ({err})") from err
    members = [m for m in archive.infolist() if not m.is_dir() and not _is_hidden(m.filename)]
    if not members:
        raise ArchiveError(name, "the zip archive holds no files")
    if len(members) > MAX_ZIP_MEMBERS:
        raise ArchiveError(name, f"{len(members)} files in the archive, more than {MAX_ZIP_MEMBERS}")
    limit = max_unpacked if max_unpacked is not None else MAX_UNPACK_RATIO * max(len(data), 1)
    if sum(m.file_size for m in members) > limit:
        raise ArchiveError(name, f"the archive unpacks to more than {limit / 2**20:.0f} MB")
    folder.mkdir(parents=True, exist_ok=True)
    nifti = [m for m in members if m.filename.lower().endswith(NIFTI_MEMBER_SUFFIXES)]
    if nifti:
        if len(nifti) > 1:
            raise ArchiveError(name, f"{len(nifti)} NIfTI files in the archive; zip one volume at a time")
        member = nifti[0]
        suffix = ".nii.gz" if member.filename.lower().endswith(".nii.gz") else ".nii"
        targets = [(member, folder / f"volume{suffix}")]
        result = targets[0][1]
    else:
        series = folder / "dicom"
        series.mkdir(exist_ok=True)
        targets = [(m, series / f"{i:05d}.dcm") for i, m in enumerate(members)]
        result = series
    for member, target in targets:
        try:
            with archive.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        # Damaged deflate streams (zlib.error), Deflate64 or other unsupported methods (NotImplementedError),
        # encrypted members (RuntimeError): all are one line about the archive, never a traceback.
        except (
            zipfile.BadZipFile,
            OSError,
            EOFError,
            zlib.error,
            NotImplementedError,
            RuntimeError,
            ValueError,
        ) as err:
            base = re.split(r"[\\/]", member.filename)[-1][:80]
            problem = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            raise ArchiveError(name, f"member {base} cannot be unpacked ({problem})") from err
    return result
