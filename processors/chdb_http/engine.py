"""The embedded engine: one chdb store per process, one fresh session per request.

chdb lets a process open many connections to its one store. Each request gets its
own, opened with the server's limits in the connection string (``max_execution_time``
and the user's ``readonly`` level, which the engine itself enforces), then the
request's settings and database. Nothing a request does (``SET``, ``USE``, several
statements) can leak into the next one, and opening a connection costs well under a
millisecond. One more connection, the keeper, stays open for the server's life: chdb
runs background merges and removes merged-away parts only while one is open.

The engine answers in UTC whatever the process's time zone: every connection is
opened with ``session_timezone=UTC``, so ``timezone()``, the ``X-ClickHouse-Timezone``
header and DateTime values without a zone of their own are all UTC, and nothing
process-wide (``TZ``, ``time.tzset``) is touched. A request may still set its own
``session_timezone``, as with ClickHouse.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from . import guard, sql
from .errors import (
    QUERY_WAS_CANCELLED,
    SYNTAX_ERROR,
    TIMEOUT_EXCEEDED,
    ClickHouseError,
    EngineError,
)
from .limits import Limits
from .protocol import ServerIdentity, Summary
from .sessions import SessionKey, Sessions
from .watchdog import Watchdog

log = logging.getLogger(__name__)

ENGINE_TIMEZONE = "UTC"
_ZONE = {"session_timezone": ENGINE_TIMEZONE}


@dataclass(frozen=True)
class Job:
    """One statement to run, with everything its session needs."""

    sql: bytes
    fmt: str
    settings: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    database: str | None = None
    readonly: int = 0
    time_limit: float = 300.0
    policy: guard.Policy | None = None
    """What the query may reach, checked on its parse first; None: the server's own SQL."""
    session: SessionKey | None = None
    """The named session to run in (its connection is kept); None: a fresh connection."""


@dataclass
class Result:
    body: bytes
    summary: Summary


class Engine:
    """The store's chdb engine, shared by every request of the server."""

    def __init__(
        self,
        store_dir: Path,
        staging_dir: Path,
        display_name: str,
        limits: Limits | None = None,
    ) -> None:
        self.store_dir = store_dir.resolve()
        self.staging_dir = staging_dir
        self.display_name = display_name
        self.limits = limits or Limits()
        self.identity = ServerIdentity(display_name, ENGINE_TIMEZONE, "")
        self.catalog = guard.Catalog(frozenset(), frozenset())
        self.sessions = Sessions()
        self._watchdog = Watchdog(
            self._keeper_query, interval=0.5, grace=self.limits.overrun_grace_seconds
        )
        self._keeper: Any = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open the store and learn the engine's version; its answers are in UTC."""
        import chdb

        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.staging_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in self.staging_dir.glob("insert-*"):
            stale.unlink(missing_ok=True)
        config = self.staging_dir / "engine.xml"  # the limits (see limits.py), read at start
        config.write_text(self.limits.engine_config())
        config.chmod(0o600)
        engine_args = {**_ZONE, "users_config": str(config), "config-file": str(config)}
        try:
            self._keeper = chdb.connect(f"{self.store_dir}?{urlencode(engine_args)}")
            row = self._keeper.query("SELECT version(), timezone()", "TSV").bytes()
            functions = self._keeper.query("SELECT name FROM system.table_functions", "TSV")
            engines = self._keeper.query(
                "SELECT name FROM system.table_engines "
                "UNION ALL SELECT name FROM system.database_engines",
                "TSV",
            )
        except Exception as exc:
            raise EngineError(str(exc)) from exc
        version, timezone = row.decode().strip().split("\t")
        self.identity = ServerIdentity(self.display_name, timezone, version)
        self.catalog = guard.Catalog.of(
            functions.bytes().decode().split(), engines.bytes().decode().split()
        )
        self._watchdog.start()

    def _keeper_query(self, text: str, params: dict[str, str]) -> str:
        with self._lock:
            if self._keeper is None:
                return ""
            result = self._keeper.query(text, "TSV", params=params)
        return str((result.bytes() or b"").decode("utf-8", "replace"))

    def close(self) -> None:
        """Close the keeper: the store's files are consistent and the next owner can open them."""
        self._watchdog.stop()
        self.sessions.close()
        with self._lock:
            if self._keeper is not None:
                self._keeper.close()
                self._keeper = None

    @property
    def dsn(self) -> str:
        """The clickhouse-connect DSN of this store, for in-process clients (see ``serve``'s hooks).

        Such clients run in the process's own time zone: clickhouse-connect passes no
        settings to chdb.
        """
        return f"chdb://{self.store_dir}"

    def run(self, job: Job) -> Result:
        """Run ``job`` to completion; the answer is in memory, as the engine makes it anyway."""
        with self._session(job) as conn:
            started = time.monotonic_ns()
            self._check(conn, job)
            with _timeouts(started, job.time_limit):
                result = _call(conn.query, job.sql, job.fmt, params=dict(job.params))
            body = result.bytes() or b""
            return Result(body, _summary(result, len(body), time.monotonic_ns() - started))

    def open_stream(self, job: Job) -> EngineStream:
        """Start ``job`` block by block; the caller pulls chunks and must close the stream."""
        session = self._session(job)
        conn = session.__enter__()
        try:
            self._check(conn, job)
            streaming = _call(conn.send_query, job.sql, job.fmt, params=dict(job.params))
        except BaseException:
            session.__exit__(None, None, None)
            raise
        return EngineStream(streaming, session, job.time_limit)

    def insert(self, job: Job, data: Path) -> Summary:
        """Run an ``INSERT ... FROM INFILE`` that ``job.sql`` names ``data`` in."""
        with self._session(job) as conn:
            started = time.monotonic_ns()
            self._check(conn, job)
            with _timeouts(started, job.time_limit):
                result = _call(conn.query, job.sql, "TabSeparated", params=dict(job.params))
            return _summary(result, 0, time.monotonic_ns() - started)

    def column_types(self, job: Job) -> list[str] | None:
        """The result's column types as the engine describes them; None if it cannot.

        Native output at revision 0 drops DateTime's zone; clients at a later revision
        get it back from here (native.reframe). Runs outside the job's session, which
        its own query holds.
        """
        text = sql.without_format(job.sql)
        try:
            with self._session(replace(job, session=None, settings={})) as conn:
                described = _call(
                    conn.query,
                    b"DESCRIBE TABLE (" + text + b")",
                    "TabSeparatedRaw",
                    params=dict(job.params),
                )
        except EngineError:
            return None
        lines = (described.bytes() or b"").decode("utf-8", "replace").splitlines()
        return [line.split("\t")[1] for line in lines if "\t" in line]

    def staging_file(self) -> tempfile._TemporaryFileWrapper[bytes]:
        """A private file for an insert's data, next to the store so the engine can read it."""
        return tempfile.NamedTemporaryFile(
            prefix="insert-", suffix=".data", dir=self.staging_dir, delete=False
        )

    def _check(self, conn: Any, job: Job) -> None:
        """Refuse (ACCESS_DENIED) what ``job.policy`` forbids, judged on the engine's parse."""
        if job.policy is None:
            return
        text = b"EXPLAIN AST " + job.sql
        # chdb runs every statement of a text, EXPLAIN's included: one statement, or nothing.
        count = _statements(conn, text)
        if count > 1:
            raise ClickHouseError(SYNTAX_ERROR, "Syntax error (Multi-statements are not allowed)")
        if count == 0:  # does not parse: the engine's own words, on at most one statement
            _call(conn.query, text.split(b";", 1)[0], "TabSeparatedRaw", params=dict(job.params))
            raise ClickHouseError(SYNTAX_ERROR, "Syntax error")
        explained = _call(conn.query, text, "TabSeparatedRaw", params=dict(job.params))
        ast = (explained.bytes() or b"").decode("utf-8", "replace")
        database = job.database
        if not job.policy.writer:  # unqualified names: the current database (sessions keep USE)
            current = _call(conn.query, "SELECT currentDatabase()", "TabSeparatedRaw")
            database = (current.bytes() or b"").decode().strip() or database
        guard.check(ast, job.policy, self.catalog, job.sql, database)

    @contextlib.contextmanager
    def _session(self, job: Job) -> Iterator[Any]:
        if self._keeper is None:
            raise EngineError("Code: 49. DB::Exception: the store is closed. (LOGICAL_ERROR)")
        if job.session is not None:
            with self.sessions.use(job.session, lambda: self._connect(job)) as conn:
                self._prepare(conn, job)
                yield conn
            return
        conn = self._connect(job)
        try:
            self._prepare(conn, job)
            yield conn
        finally:
            conn.close()

    def _connect(self, job: Job) -> Any:
        import chdb

        limits = {**_ZONE, **self.limits.session_settings(job.time_limit)}
        if job.readonly:
            limits["readonly"] = str(job.readonly)
        return _call(chdb.connect, f"{self.store_dir}?{urlencode(limits)}")

    @staticmethod
    def _prepare(conn: Any, job: Job) -> None:
        if job.database:
            _call(conn.query, f"USE {quote_identifier(job.database)}", "TabSeparated")
        if job.settings:
            _call(
                conn.query,
                "SET "
                + ", ".join(
                    f"{name} = {quote_string(value)}" for name, value in job.settings.items()
                ),
                "TabSeparated",
            )


def _statements(conn: Any, text: bytes) -> int:
    """How many statements the engine's parser finds in ``text`` (0: it does not parse)."""
    classify = getattr(getattr(conn, "_conn", None), "classify_query", None)
    if classify is None:  # an engine without it: any ';' before the end is a second statement
        return 2 if b";" in text.rstrip().rstrip(b";") else 1
    try:
        return int(classify(text.decode("utf-8", "replace"))["statement_count"])
    except Exception:
        return 0


@contextlib.contextmanager
def _timeouts(started_ns: int, time_limit: float) -> Iterator[None]:
    """A query the watchdog cancelled after the time limit: TIMEOUT_EXCEEDED, as ClickHouse's."""
    try:
        yield
    except EngineError as exc:
        elapsed = (time.monotonic_ns() - started_ns) / 1e9
        if exc.code != QUERY_WAS_CANCELLED or elapsed < time_limit:
            raise
        raise ClickHouseError(
            TIMEOUT_EXCEEDED,
            f"Timeout exceeded: elapsed {elapsed * 1000:.3f} ms, maximum: "
            f"{time_limit * 1000:.3f} ms (the server cancelled the query)",
        ) from exc


def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call into chdb; its errors become ClickHouse errors with the engine's own message."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:
        raise EngineError(str(exc)) from exc


class EngineStream:
    """A query's answer as the engine produces it, block by block, on its own session."""

    def __init__(
        self,
        streaming: Any,
        session: contextlib.AbstractContextManager[Any],
        time_limit: float = float("inf"),
    ) -> None:
        self._streaming = streaming
        self._session: contextlib.AbstractContextManager[Any] | None = session
        self._started = time.monotonic_ns()
        self._time_limit = time_limit
        self.rows = 0

    def next(self) -> bytes | None:
        """The next non-empty chunk, or None at the end; engine errors raise EngineError."""
        while True:
            with _timeouts(self._started, self._time_limit):
                chunk = _call(self._streaming.fetch)
            if chunk is None:
                return None
            self.rows += int(chunk.rows_read())
            data: bytes = chunk.bytes()
            if data:
                return data

    def close(self) -> None:
        if self._session is None:
            return
        with contextlib.suppress(Exception):
            self._streaming.close()
        session, self._session = self._session, None
        session.__exit__(None, None, None)


def _summary(result: Any, result_bytes: int, elapsed_ns: int) -> Summary:
    return Summary(
        read_rows=int(result.rows_read()),
        read_bytes=int(result.bytes_read()),
        written_rows=int(result.rows_written()),
        written_bytes=int(result.bytes_written()),
        result_rows=0 if result_bytes == 0 else int(result.rows_read()),
        result_bytes=result_bytes,
        elapsed_ns=elapsed_ns,
    )


def quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
