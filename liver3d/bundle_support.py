"""The one place where a bundle run turns an :class:`~liver3d.errors.InputError` into ``ERROR`` lines and exit 1.

Bundle configs call their input checks through :func:`checked`, e.g.
``"$liver3d.bundle_support.checked(liver3d.data.require_valid_inputs, @datalist)"``. Under
``python -m monai.bundle run`` a bad input then stops the run with one ``ERROR <file>: <problem>`` line per
finding (stderr) and exit code 1, before anything is written, instead of a traceback. Callers that run a
bundle in-process and want the typed error (``liver3d segment``, the viewer) wrap the run in
:func:`raise_input_errors`, and :func:`checked` lets the :class:`~liver3d.errors.InputError` through.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from liver3d.errors import InputError

T = TypeVar("T")
_RAISE = ContextVar("liver3d_raise_input_errors", default=False)


@contextlib.contextmanager
def raise_input_errors() -> Iterator[None]:
    """Within this block, :func:`checked` re-raises input errors instead of exiting."""
    token = _RAISE.set(True)
    try:
        yield
    except RuntimeError as err:  # MONAI wraps what a config expression raises: hand back the InputError
        cause = input_error_in(err)
        if cause is None:
            raise
        raise cause from err
    finally:
        _RAISE.reset(token)


def input_error_in(err: BaseException) -> InputError | None:
    """The :class:`InputError` an exception was raised from (its ``__cause__`` / ``__context__`` chain)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, InputError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def checked(check: Callable[..., T], *args, **kwargs) -> T:
    """``check(*args, **kwargs)``; an :class:`InputError` becomes ``ERROR`` lines and ``SystemExit(1)``."""
    try:
        return check(*args, **kwargs)
    except InputError as err:
        if _RAISE.get():
            raise
        for line in err.lines():
            print(line, file=sys.stderr)
        print(
            f"stopped before writing anything: {len(err.findings)} problem(s) in the inputs", file=sys.stderr
        )
        raise SystemExit(1) from None
