"""The one active run of this process, behind the module-level shortcuts.

Unlike trackers that start a run implicitly, logging without ``init`` fails
loudly: a silently created run is a run nobody can find.
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING

from .errors import RunStateError

if TYPE_CHECKING:
    from .run import Run

_lock = threading.Lock()
_active: Run | None = None
_atexit_registered = False


def get() -> Run:
    run = _active
    if run is None:
        raise RunStateError("no active run: call runstream.init(project=...) first")
    return run


def current() -> Run | None:
    return _active


def activate(run: Run) -> None:
    global _active, _atexit_registered
    with _lock:
        if _active is not None:
            raise RunStateError(
                f"run {_active.name!r} ({_active.id[:8]}) is still active in this process; "
                "call finish() on it before starting another"
            )
        _active = run
        if not _atexit_registered:
            atexit.register(_finish_at_exit)
            _atexit_registered = True


def ensure_none_active() -> None:
    run = _active
    if run is not None:
        raise RunStateError(
            f"run {run.name!r} ({run.id[:8]}) is still active in this process; "
            "call finish() on it before starting another"
        )


def clear(run: Run) -> None:
    global _active
    with _lock:
        if _active is run:
            _active = None


def _finish_at_exit() -> None:
    from .run import status_at_exit

    run = _active
    if run is not None:
        run.finish(status_at_exit())
