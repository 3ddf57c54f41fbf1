"""SIGTERM (preemption, ``kill``) and SIGINT record the active run as ``killed``.

``init`` installs the handlers, from the main thread only (Python allows no other), once
per process; they act on whichever run is active when the signal arrives. Each handler
finishes the run (``killed``, waiting at most ``_FINISH_TIMEOUT`` s for the spool and
uploads: a preempted job has little grace), then hands the signal on to the handler that
was installed before:

* a Python handler the user installed runs after the run is finished;
* the default action (``SIG_DFL``) is restored and the signal raised again, so the
  process still ends by that signal (exit status -15 for SIGTERM);
* Python's own SIGINT handler is never replaced: Ctrl-C raises KeyboardInterrupt as always,
  which the ``with`` block (or the exit hook) records as ``killed``, and a program that
  catches it goes on with its run;
* an ignored signal (``SIG_IGN``) or one handled outside Python is left alone.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

from . import _active

_FINISH_TIMEOUT = 10.0
_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_installed: dict[int, Any] = {}


def install() -> None:
    """Install the handlers (main thread only; a no-op elsewhere and once installed)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for number in _SIGNALS:
        previous = signal.getsignal(number)
        if previous is _installed.get(number):
            continue  # ours is still in place
        if previous is None or previous is signal.SIG_IGN:
            continue
        if number == signal.SIGINT and previous is signal.default_int_handler:
            continue
        handler = _handler(number, previous)
        signal.signal(number, handler)
        _installed[number] = handler


def _handler(number: int, previous: Any) -> Any:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        run = _active.current()
        if run is not None and not run._finish_lock.locked():  # not already finishing
            run.finish("killed", timeout=_FINISH_TIMEOUT, upload_timeout=_FINISH_TIMEOUT)
        if previous is signal.SIG_DFL:
            signal.signal(number, signal.SIG_DFL)
            _installed.pop(number, None)
            os.kill(os.getpid(), number)
        elif callable(previous):
            previous(signum, frame)

    return on_signal
