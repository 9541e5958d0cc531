"""Where the viewer keeps uploads and results: one private folder per browser session under the server's
temporary folder. A session's folder is emptied when its upload is replaced or removed; folders of sessions
that went away (a closed tab) are removed once they are older than ``max_age_s``; the launcher deletes the
whole server folder when it stops."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

SESSION_PREFIX = "session-"
DEFAULT_MAX_AGE_S = 12 * 3600


def remove_stale_sessions(root: str | Path, max_age_s: float = DEFAULT_MAX_AGE_S) -> list[Path]:
    """Delete session folders under ``root`` not modified for ``max_age_s`` seconds; return them."""
    root = Path(root)
    if not root.is_dir():
        return []
    cutoff = time.time() - max_age_s
    stale = [p for p in root.glob(f"{SESSION_PREFIX}*") if p.is_dir() and _last_change(p) < cutoff]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def new_session_dir(root: str | Path, max_age_s: float = DEFAULT_MAX_AGE_S) -> Path:
    """A new private folder (mode 0700) under ``root``, after removing stale ones."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_sessions(root, max_age_s)
    return Path(tempfile.mkdtemp(prefix=SESSION_PREFIX, dir=root))


def _last_change(folder: Path) -> float:
    times = [folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.rglob("*")]
    return max(times)
