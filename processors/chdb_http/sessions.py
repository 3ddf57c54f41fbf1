"""Named sessions (``session_id``): one chdb connection kept per user and session.

ClickHouse keeps a session's temporary tables, ``SET`` and ``USE`` between requests
that name it. So does this server: the first request with a ``session_id`` opens a
connection that later ones of the same user reuse, until it has been idle for its
``session_timeout`` (default 60 s, at most 3600 s, as ClickHouse's defaults). Each
request still starts from the server's limits and is still checked (guard.py).

As in ClickHouse, a session serves one request at a time: a second one while it is
busy gets SESSION_IS_LOCKED (373); ``session_check=1`` on a session that does not
exist gets SESSION_NOT_FOUND (372).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import errors

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
MAX_SESSIONS = 1024


@dataclass(frozen=True)
class SessionKey:
    user: str
    session_id: str
    timeout: float = DEFAULT_TIMEOUT
    check: bool = False


@dataclass
class _Session:
    conn: Any
    timeout: float
    busy: bool = False
    last_used: float = field(default_factory=time.monotonic)


class Sessions:
    """The server's open sessions; thread-safe."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self.limit = limit
        self._open: dict[tuple[str, str], _Session] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def use(self, key: SessionKey, connect: Callable[[], Any]) -> Iterator[Any]:
        """The session's connection, locked for this request (opened on first use)."""
        session = self._acquire(key, connect)
        try:
            yield session.conn
        finally:
            with self._lock:
                session.busy = False
                session.last_used = time.monotonic()

    def close(self) -> None:
        with self._lock:
            sessions, self._open = list(self._open.values()), {}
        for session in sessions:
            with contextlib.suppress(Exception):
                session.conn.close()

    def _acquire(self, key: SessionKey, connect: Callable[[], Any]) -> _Session:
        name = (key.user, key.session_id)
        with self._lock:
            stale = self._expire()
            session = self._open.get(name)
            if session is not None and session.busy:
                raise errors.ClickHouseError(
                    errors.SESSION_IS_LOCKED,
                    f"Session {key.session_id} is locked by a concurrent client",
                )
            if session is not None:
                session.busy = True
                session.timeout = key.timeout
        self._close(stale)
        if session is not None:
            return session
        if key.check:
            raise errors.ClickHouseError(
                errors.SESSION_NOT_FOUND, f"Session {key.session_id} not found"
            )
        conn = connect()
        with self._lock:
            if name in self._open:  # opened meanwhile by a concurrent request
                self._close([conn])
                raise errors.ClickHouseError(
                    errors.SESSION_IS_LOCKED,
                    f"Session {key.session_id} is locked by a concurrent client",
                )
            stale = self._evict() if len(self._open) >= self.limit else []
            session = _Session(conn, key.timeout, busy=True)
            self._open[name] = session
        self._close(stale)
        return session

    def _expire(self) -> list[Any]:
        now = time.monotonic()
        gone = [
            name
            for name, session in self._open.items()
            if not session.busy and now - session.last_used > session.timeout
        ]
        return [self._open.pop(name).conn for name in gone]

    def _evict(self) -> list[Any]:
        idle = sorted(
            (session.last_used, name) for name, session in self._open.items() if not session.busy
        )
        if not idle:
            raise errors.ClickHouseError(
                errors.TOO_MANY_SIMULTANEOUS_QUERIES, f"Too many sessions. Maximum: {self.limit}"
            )
        return [self._open.pop(idle[0][1]).conn]

    @staticmethod
    def _close(conns: list[Any]) -> None:
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


def session_key(user: str, args: dict[str, str]) -> SessionKey | None:
    """The session a request names (``session_id``, ``session_timeout``, ``session_check``)."""
    session_id = args.get("session_id")
    if not session_id:
        return None
    try:
        timeout = float(args.get("session_timeout") or DEFAULT_TIMEOUT)
    except ValueError as exc:
        raise errors.ClickHouseError(errors.BAD_ARGUMENTS, "Invalid session timeout") from exc
    if not 0 < timeout <= MAX_TIMEOUT:
        raise errors.ClickHouseError(
            errors.BAD_ARGUMENTS,
            f"Session timeout '{args.get('session_timeout')}' is larger than "
            f"max_session_timeout: {MAX_TIMEOUT:g}",
        )
    check = (args.get("session_check") or "").strip().lower() in ("1", "true")
    return SessionKey(user, session_id, timeout, check)
