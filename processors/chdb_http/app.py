"""Request handling: an HTTP request in, the engine's answer out, ClickHouse's way.

aiohttp parses HTTP (keep-alive, chunked request bodies, which clickhouse-connect
sends for inserts) and lets a handler stream its answer; engine calls block, so
they run on a bounded thread pool and the event loop only moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from aiohttp import BodyPartReader, web

from . import compression, errors, guard, native, protocol, sessions, sql
from .auth import User, credentials
from .config import ServerConfig
from .engine import Engine, EngineStream, Job
from .limits import QuerySlots
from .protocol import RequestArgs, Summary

log = logging.getLogger("chdb_http")

CHUNK = 256 * 1024
ROUTE_ON_LOOP = 4 * 1024  # larger chunks of SQL text are analysed on a thread
CLIENT_CLOSED = 499  # the status the access log shows for an answer the client gave up on
READ_ONLY_METHOD_HINT = (
    ". For queries over HTTP, method GET implies readonly. "
    "You should use method POST for modifying queries"
)
# Statements that answer with a result set (X-ClickHouse-Format even when it is empty).
RESULT_KEYWORDS = frozenset(
    {
        "SELECT",
        "WITH",
        "SHOW",
        "DESCRIBE",
        "DESC",
        "EXISTS",
        "EXPLAIN",
        "CHECK",
        "VALUES",
        "FROM",
        "(",
    }
)
STREAMED_KEYWORDS = frozenset({"SELECT", "WITH"})
T = TypeVar("T")


@dataclass
class Exchange:
    """What one request has become so far; the access log line is made from it."""

    request: web.Request
    started: float = field(default_factory=time.monotonic)
    query_id: str = ""
    user: str = "-"
    keyword: str = "-"
    summary: Summary = field(default_factory=Summary)
    status: int = 200


class QueryHandler:
    """The ClickHouse HTTP interface over one engine."""

    def __init__(self, engine: Engine, config: ServerConfig, executor: ThreadPoolExecutor) -> None:
        self.engine = engine
        self.config = config
        self.executor = executor
        limits = config.limits
        self.slots = QuerySlots(limits.max_concurrent_queries, limits.queue_wait_seconds)
        self._running: set[str] = set()  # query ids that clients chose, while they run
        source = config.users.source
        self._protected = tuple(
            str(path) for path in (config.store_dir, config.staging_dir, source) if path
        )

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def query(self, request: web.Request) -> web.StreamResponse:
        exchange = Exchange(request, query_id=request.query.get("query_id") or str(uuid.uuid4()))
        try:
            return await self._query(exchange)
        except errors.ClickHouseError as error:
            return self._error(exchange, error)
        except (
            Exception
        ) as exc:  # a bug of ours: answer like ClickHouse, keep the traceback in the log
            log.exception("unexpected error in query %s", exchange.query_id)
            return self._error(exchange, errors.ClickHouseError(errors.LOGICAL_ERROR, repr(exc)))
        finally:
            self._log(exchange)

    async def _query(self, exchange: Exchange) -> web.StreamResponse:
        request = exchange.request
        args = dict(request.query)
        if request.method == "GET" and "query" not in args:
            return web.Response(text="Ok.\n")
        user = self.config.users.authenticate(*credentials(request.headers, args))
        exchange.user = user.name
        body = _body(request, self._body_limit())
        if request.content_type == "multipart/form-data":
            args.update(await _form_fields(request, self._body_limit()))
            body = _empty()
        args.setdefault("query_id", exchange.query_id)
        parsed = protocol.parse_args(args, self.config.max_query_seconds)
        exchange.query_id = parsed.query_id
        limit = self._query_limit(parsed.settings)
        _check_settings(user, parsed.settings)
        prefix = parsed.query.encode() + b"\n" if parsed.query else b""
        statement, head, rest = await _read_statement(prefix, body, limit)
        exchange.keyword = statement.keyword or "-"
        _refuse(statement)
        job = Job(
            sql=head,
            fmt=statement.output_format or parsed.default_format,
            settings=limit.settings(parsed.settings),
            params=parsed.params,
            database=parsed.database,
            readonly=_readonly(user, request.method),
            time_limit=self.config.max_query_seconds,
            policy=guard.policy_for(
                user.name,
                user.readonly,
                user.table_functions | self.config.allow_table_functions,
                self._protected,
                user.may_set,
            ),
        )
        if request.method == "POST" or user.readonly:  # a GET of a writer runs read-only, alone
            job = replace(job, session=sessions.session_key(user.name, args))
        chosen = request.query.get("query_id") or args.get("query_id") != exchange.query_id
        async with self.slots.slot(), self._query_id(parsed.query_id, bool(chosen)):
            if statement.data_offset is not None:
                return await self._insert(exchange, parsed, statement, job, head, rest)
            if (
                statement.keyword in STREAMED_KEYWORDS
                and job.fmt in protocol.STREAMABLE_FORMATS
                and not parsed.wait_end_of_query
            ):
                return await self._stream(exchange, parsed, job)
            return await self._run(exchange, parsed, statement, job)

    @contextlib.asynccontextmanager
    async def _query_id(self, query_id: str, chosen: bool) -> AsyncIterator[None]:
        """A client's own query id runs once at a time, as in ClickHouse (216)."""
        if not chosen:
            yield
            return
        if query_id in self._running:
            raise errors.ClickHouseError(
                errors.QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING,
                f"Query with id = {query_id} is already running.",
            )
        self._running.add(query_id)
        try:
            yield
        finally:
            self._running.discard(query_id)

    async def _run(
        self, exchange: Exchange, parsed: RequestArgs, statement: sql.Statement, job: Job
    ) -> web.Response:
        result = await self._blocking(self.engine.run, job)
        exchange.summary = result.summary
        coding = self._coding(exchange.request, parsed)
        types = await self._described(job, parsed.protocol_revision, result.body)
        body = await self._blocking(
            _encode_all, result.body, job.fmt, parsed.protocol_revision, coding, types
        )
        returns_rows = statement.keyword in RESULT_KEYWORDS or bool(result.body)
        headers = protocol.response_headers(
            self.engine.identity, parsed.query_id, job.fmt if returns_rows else None, result.summary
        )
        if coding:
            headers["Content-Encoding"] = coding
        return web.Response(body=body, headers=headers)

    async def _stream(
        self, exchange: Exchange, parsed: RequestArgs, job: Job
    ) -> web.StreamResponse:
        stream = await self._blocking(self.engine.open_stream, job)
        try:
            first = await self._blocking(stream.next)  # an early error still gets its HTTP status
            tag = protocol.exception_tag()
            headers = protocol.response_headers(
                self.engine.identity, parsed.query_id, job.fmt, Summary(), tag
            )
            coding = self._coding(exchange.request, parsed)
            if coding:
                headers["Content-Encoding"] = coding
            response = web.StreamResponse(headers=headers)
            response.enable_chunked_encoding()
            await response.prepare(exchange.request)
            try:
                await self._pump(exchange, response, stream, first, parsed, job, coding, tag)
            except ConnectionError:  # the client stopped reading: its choice, not our fault
                exchange.status = CLIENT_CLOSED
                log.info("query %s: the client went away while reading the answer", parsed.query_id)
            return response
        finally:
            await self._blocking(stream.close)

    async def _pump(
        self,
        exchange: Exchange,
        response: web.StreamResponse,
        stream: EngineStream,
        chunk: bytes | None,
        parsed: RequestArgs,
        job: Job,
        coding: str | None,
        tag: str,
    ) -> None:
        fmt = job.fmt
        encoder = compression.encoder(coding or "identity")
        revision = parsed.protocol_revision if fmt == "Native" else 0
        types = await self._described(job, revision, chunk) if revision else None
        try:
            while chunk is not None:
                exchange.summary.result_bytes += len(chunk)
                await response.write(await self._blocking(_encode, encoder, chunk, revision, types))
                chunk = await self._blocking(stream.next)
        except errors.ClickHouseError as error:  # headers are gone: the error goes in the body
            exchange.status = error.status
            block = protocol.exception_block(error.body(self.engine.identity.version), tag)
            await response.write(encoder.encode(block))
            log.warning("query %s failed while streaming: %s", parsed.query_id, error.text)
        exchange.summary.result_rows = exchange.summary.read_rows = stream.rows
        await response.write(encoder.finish())
        await response.write_eof()

    async def _insert(
        self,
        exchange: Exchange,
        parsed: RequestArgs,
        statement: sql.Statement,
        job: Job,
        head: bytes,
        rest: AsyncIterator[bytes],
    ) -> web.Response:
        assert statement.data_offset is not None and statement.insert_target is not None
        staging = self.engine.staging_file()
        path = Path(staging.name)
        try:
            with staging:
                staging.write(head[statement.data_offset :])
                async for chunk in rest:
                    staging.write(chunk)
            insert_sql = (
                statement.insert_target
                + b" FROM INFILE "
                + _quoted(path)
                + b" "
                + statement.insert_settings
                + b" FORMAT "
                + str(statement.insert_format).encode()
            )
            job = replace(
                job,
                sql=insert_sql,
                fmt="TabSeparated",
                settings=QueryLimit.fitting(job.settings, insert_sql),
            )
            exchange.summary = await self._blocking(self.engine.insert, job, path)
        finally:
            path.unlink(missing_ok=True)
        headers = protocol.response_headers(
            self.engine.identity, parsed.query_id, None, exchange.summary
        )
        return web.Response(body=b"", headers=headers)

    async def _described(self, job: Job, revision: int, data: bytes | None) -> list[str] | None:
        """Column types for Native at ``revision`` when chdb's output dropped DateTime zones."""
        if job.fmt != "Native" or revision < native.TIME_ZONE_REVISION:
            return None
        if not data or not native.zones_dropped(data):
            return None
        return await self._blocking(self.engine.column_types, job)

    def _body_limit(self) -> BodyLimit:
        return BodyLimit(self.config.max_body_bytes, self.config.max_body_hint)

    def _query_limit(self, settings: Mapping[str, str]) -> QueryLimit:
        """The server's max_query_size, or the request's own where it is lower."""
        limit = QueryLimit(self.config.max_query_size, self.config.max_query_size_hint)
        value = settings.get(QueryLimit.SETTING)
        if value is None:
            return limit
        try:
            size = int(value)
        except ValueError as exc:
            raise errors.ClickHouseError(
                errors.BAD_ARGUMENTS, f"Cannot parse '{value}' as a value of {QueryLimit.SETTING}"
            ) from exc
        if size <= 0 or size > limit.size:
            hint = f" ({limit.hint})" if limit.hint else ""
            raise errors.ClickHouseError(
                errors.SETTING_CONSTRAINT_VIOLATION,
                f"Setting {QueryLimit.SETTING} shouldn't be greater than {limit.size}{hint}",
            )
        return QueryLimit(size, limit.hint)

    def _coding(self, request: web.Request, parsed: RequestArgs) -> str | None:
        if not parsed.compress_response:
            return None
        return compression.choose(request.headers.get("Accept-Encoding"))

    def _error(self, exchange: Exchange, error: errors.ClickHouseError) -> web.Response:
        if error.code == errors.READONLY and exchange.request.method != "POST":
            error = errors.ClickHouseError(
                errors.READONLY, _plain_text(error) + READ_ONLY_METHOD_HINT
            )
        exchange.status = error.status
        headers = protocol.error_headers(self.engine.identity, exchange.query_id, error)
        response = web.Response(
            status=error.status,
            headers=headers,
            body=error.body(self.engine.identity.version).encode(),
        )
        if error.code == errors.QUERY_IS_TOO_LARGE:
            response.force_close()  # the rest of the body is not worth reading
        return response

    async def _blocking(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, function, *args)

    def _log(self, exchange: Exchange) -> None:
        request, summary = exchange.request, exchange.summary
        log.info(
            "%s %s %s user=%s query_id=%s kind=%s %.1fms read_rows=%d written_rows=%d "
            "result_bytes=%d",
            request.remote,
            request.method,
            exchange.status,
            exchange.user,
            exchange.query_id or "-",
            exchange.keyword,
            (time.monotonic() - exchange.started) * 1000,
            summary.read_rows,
            summary.written_rows,
            summary.result_bytes,
        )


def _readonly(user: User, method: str) -> int:
    """The user's level; any method but POST is read-only too, as in ClickHouse."""
    if user.readonly:
        return user.readonly
    return 0 if method == "POST" else 2


def _check_settings(user: User, settings: dict[str, str]) -> None:
    """A dashboard account sends only the settings on its list (auth.DASHBOARD_SETTINGS)."""
    for name in settings:
        if not user.may_set(name):
            raise errors.ClickHouseError(
                errors.READONLY,
                f"Cannot modify '{name}' setting in readonly mode "
                f"({user.name} is a {user.role} account)",
            )


def _refuse(statement: sql.Statement) -> None:
    """What ClickHouse's HTTP interface refuses, refused before the engine sees it."""
    if not statement.keyword:
        raise errors.ClickHouseError(errors.SYNTAX_ERROR, "Empty query")
    if statement.multi:
        raise errors.ClickHouseError(
            errors.SYNTAX_ERROR, "Syntax error (Multi-statements are not allowed)"
        )
    if statement.outfile:
        raise errors.ClickHouseError(errors.INTO_OUTFILE_NOT_ALLOWED, "INTO OUTFILE is not allowed")
    if statement.infile:
        raise errors.ClickHouseError(
            errors.UNKNOWN_TYPE_OF_QUERY, "Query has infile and was send directly to server"
        )


@dataclass(frozen=True)
class BodyLimit:
    """The largest body a request may send, and how to raise it (for the error's text)."""

    size: int
    hint: str = ""

    def error(self) -> errors.ClickHouseError:
        hint = f" ({self.hint})" if self.hint else ""
        return errors.ClickHouseError(
            errors.QUERY_IS_TOO_LARGE, f"Request body is larger than {self.size} bytes{hint}"
        )


@dataclass(frozen=True)
class QueryLimit:
    """The longest SQL text a request may send (ClickHouse's max_query_size), and its flag."""

    SETTING: ClassVar[str] = "max_query_size"
    size: int = sql.DEFAULT_MAX_QUERY_SIZE
    hint: str = ""

    @classmethod
    def fitting(cls, settings: Mapping[str, str], rewritten: bytes) -> Mapping[str, str]:
        """``settings`` for a statement of ours whose original text was within the limit."""
        size = int(settings.get(cls.SETTING, sql.DEFAULT_MAX_QUERY_SIZE))
        if size > len(rewritten):
            return settings
        return {**settings, cls.SETTING: str(len(rewritten) + 1)}

    def settings(self, settings: Mapping[str, str]) -> Mapping[str, str]:
        """The request's settings without ``max_query_size``: the router enforced it (a lower
        value of the request's included); the engine's own is set higher in its config
        (``Limits.engine_max_query_size``), with room for what the server wraps around."""
        return {name: value for name, value in settings.items() if name != self.SETTING}


async def _read_statement(
    prefix: bytes,
    body: AsyncIterator[bytes],
    limit: QueryLimit,
) -> tuple[sql.Statement, bytes, AsyncIterator[bytes]]:
    """Read until the statement is known: the whole text, or an INSERT up to its data.

    Each chunk is analysed once, where the last one stopped (see ``sql.Router``),
    large ones on a thread so that the event loop keeps moving other requests; the
    text kept is at most ``limit.size`` bytes, and what follows an INSERT's
    statement is handed on as it comes.
    """
    router = sql.Router(limit.size, limit.hint)
    statement = await _route(router, prefix)
    while statement is None:
        chunk = await anext(body, None)
        if chunk is None:
            statement = router.finish()
            break
        statement = await _route(router, chunk)
    if statement.data_offset is None:  # all SQL: the router read it to its end
        return statement, router.text.rstrip(sql.WHITESPACE), _empty()
    return statement, router.text, _chain(router.overflow, body)


async def _route(router: sql.Router, chunk: bytes) -> sql.Statement | None:
    if len(chunk) < ROUTE_ON_LOOP:
        return router.feed(chunk)
    return await asyncio.get_running_loop().run_in_executor(None, router.feed, chunk)


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


async def _body(request: web.Request, limit: BodyLimit) -> AsyncIterator[bytes]:
    """The request body, decoded from its Content-Encoding, never more than ``limit`` bytes.

    Decoding is incremental with a bounded output per step (``CHUNK``), so a small
    compressed body that inflates to gigabytes is refused once past ``limit`` without
    ever being held; the loop is let go between steps.
    """
    coding = request.headers.get("Content-Encoding")
    decoder = compression.decoder(coding)
    total = 0
    try:
        async for raw in request.content.iter_chunked(CHUNK):
            for data in decoder.decode(raw, CHUNK):
                total += len(data)
                if total > limit.size:
                    raise limit.error()
                yield data
                await asyncio.sleep(0)
        decoder.finish()
    except errors.ClickHouseError:
        raise
    except Exception as exc:  # each codec has errors of its own
        raise errors.ClickHouseError(
            errors.CANNOT_DECOMPRESS,
            f"Cannot decompress the request body ({coding}): {exc}",
        ) from exc


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def _form_fields(request: web.Request, limit: BodyLimit) -> dict[str, str]:
    """``query`` and ``param_*`` sent as multipart form fields (clickhouse-connect's long binds).

    Each field is at most the app's ``client_max_size`` (aiohttp checks), the fields
    together at most ``limit`` bytes.
    """
    fields: dict[str, str] = {}
    total = 0
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            continue
        if part.filename:
            raise errors.ClickHouseError(
                errors.NOT_IMPLEMENTED,
                "external data (temporary tables sent with the query) is not supported "
                "by chdb_http",
            )
        try:
            value = await part.text()
        except web.HTTPRequestEntityTooLarge as exc:
            raise errors.ClickHouseError(
                errors.QUERY_IS_TOO_LARGE, f"A form field is too large: {exc.text}"
            ) from exc
        total += len(value)
        if total > limit.size:
            raise limit.error()
        if part.name:
            fields[part.name] = value
    return fields


def _encode_all(
    body: bytes, fmt: str, revision: int, coding: str | None, types: list[str] | None = None
) -> bytes:
    if fmt == "Native" and revision:
        body = native.reframe(body, revision, types)
    if not coding:
        return body
    encoder = compression.encoder(coding)
    return encoder.encode(body) + encoder.finish()


def _encode(
    encoder: compression.Encoder, chunk: bytes, revision: int, types: list[str] | None = None
) -> bytes:
    return encoder.encode(native.reframe(chunk, revision, types) if revision else chunk)


def _quoted(path: Path) -> bytes:
    return b"'" + str(path).replace("\\", "\\\\").replace("'", "\\'").encode() + b"'"


def _plain_text(error: errors.ClickHouseError) -> str:
    text = error.text
    if text.startswith("Code: "):
        text = text.split("DB::Exception: ", 1)[-1]
    return text.rsplit(" (", 1)[0].rstrip(".") if text.endswith(")") else text


def build_app(handler: QueryHandler, max_field_size: int) -> web.Application:
    app = web.Application(client_max_size=max_field_size)
    app.router.add_route("GET", "/ping", handler.ping)
    app.router.add_route("HEAD", "/ping", handler.ping)
    app.router.add_route("GET", "/replicas_status", handler.ping)
    app.router.add_route("*", "/", handler.query)
    return app
