"""ClickHouse's HTTP interface, the parts that are not SQL: URL arguments and headers.

A request's URL mixes four things that ClickHouse tells apart by name: the
transport's own arguments (``query``, ``database``, ``default_format``,
``query_id``, ``session_id``, credentials, compression switches...), query
parameters (``param_<name>``), and everything else, which is a setting for this
query. Answers carry the ``X-ClickHouse-*`` headers clients read.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import errors

# Arguments that are not settings. The engine would reject most as unknown settings.
TRANSPORT_ARGS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "user",
        "password",
        "quota_key",
        "buffer_size",
        "wait_end_of_query",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
        "http_zlib_compression_level",
        "compress",
        "decompress",
        "client_protocol_version",
        "role",
        "http_native_compression_disable_checksumming_on_decompress",
        "http_response_buffer_size",
        "http_wait_end_of_query",
        "add_http_cors_header",
        "stacktrace",
        "cancel_http_readonly_queries_on_client_close",
        "http_write_exception_in_output_format",
    }
)
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FORMAT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TAG_ALPHABET = string.ascii_lowercase + string.digits
MAX_EXECUTION_TIME = "max_execution_time"

_CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "CSVWithNamesAndTypes": "text/csv; charset=UTF-8; header=present",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONStrings": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSONCompactEachRow": "application/x-ndjson; charset=UTF-8",
    "XML": "application/xml; charset=UTF-8",
}
_BINARY_FORMATS = frozenset(
    {
        "Native",
        "RowBinary",
        "RowBinaryWithNames",
        "RowBinaryWithNamesAndTypes",
        "Arrow",
        "ArrowStream",
        "Parquet",
        "ORC",
        "Avro",
        "Protobuf",
        "MsgPack",
        "Npy",
        "RawBLOB",
    }
)
# Formats whose per-block encodings concatenate into one valid answer (no global header
# or footer), so chdb's block-by-block stream can go to the client as it comes.
STREAMABLE_FORMATS = frozenset(
    {
        "Native",
        "TabSeparated",
        "TSV",
        "TabSeparatedRaw",
        "TSVRaw",
        "CSV",
        "RowBinary",
        "JSONEachRow",
        "JSONCompactEachRow",
        "JSONStringsEachRow",
        "JSONCompactStringsEachRow",
        "LineAsString",
        "RawBLOB",
        "TSKV",
    }
)


@dataclass
class RequestArgs:
    """One request's URL arguments, sorted into what they are."""

    query: str | None = None
    database: str | None = None
    default_format: str = "TabSeparated"
    query_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    settings: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    compress_response: bool = False
    wait_end_of_query: bool = False
    protocol_revision: int = 0


def parse_args(args: Mapping[str, str], max_query_seconds: float) -> RequestArgs:
    """Sort URL (or form) arguments; enforce the server's limits on settings."""
    parsed = RequestArgs(
        query=args.get("query"),
        database=args.get("database") or None,
        default_format=_format_name(args.get("default_format") or "TabSeparated"),
        compress_response=_flag(args.get("enable_http_compression")),
        wait_end_of_query=_flag(args.get("wait_end_of_query")),
        protocol_revision=_int_arg(args, "client_protocol_version"),
    )
    if args.get("query_id"):
        parsed.query_id = args["query_id"]
    if _flag(args.get("compress")) or _flag(args.get("decompress")):
        raise errors.ClickHouseError(
            errors.NOT_IMPLEMENTED,
            "compress=1/decompress=1 (ClickHouse's native block compression over HTTP) is not "
            "supported by chdb_http: use HTTP compression (Content-Encoding/"
            "Accept-Encoding with enable_http_compression=1), e.g. gzip, zstd or lz4",
        )
    for name, value in args.items():
        if name.startswith("param_"):
            parsed.params[name[len("param_") :]] = value
        elif name not in TRANSPORT_ARGS:
            if not _SETTING_NAME.match(name):
                raise errors.ClickHouseError(errors.BAD_ARGUMENTS, f"Invalid setting name '{name}'")
            parsed.settings[name] = value
    _check_time_limit(parsed.settings, max_query_seconds)
    return parsed


def _check_time_limit(settings: Mapping[str, str], limit: float) -> None:
    """``max_execution_time`` may lower the server's limit, not lift it (a settings constraint)."""
    value = settings.get(MAX_EXECUTION_TIME)
    if value is None:
        return
    try:
        seconds = float(value)
    except ValueError as exc:
        raise errors.ClickHouseError(
            errors.BAD_ARGUMENTS, f"Cannot parse '{value}' as a value of {MAX_EXECUTION_TIME}"
        ) from exc
    if seconds <= 0 or seconds > limit:
        raise errors.ClickHouseError(
            errors.SETTING_CONSTRAINT_VIOLATION,
            f"Setting {MAX_EXECUTION_TIME} shouldn't be greater than {limit:g} "
            "(the server's --max-query-seconds)",
        )


def _format_name(name: str) -> str:
    if not _FORMAT_NAME.match(name):
        raise errors.ClickHouseError(errors.UNKNOWN_FORMAT, f"Unknown format {name}")
    return name


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _int_arg(args: Mapping[str, str], name: str) -> int:
    try:
        return int(args.get(name) or 0)
    except ValueError as exc:
        raise errors.ClickHouseError(errors.BAD_ARGUMENTS, f"Invalid {name}") from exc


def exception_tag() -> str:
    """A fresh tag for in-body exceptions, as ClickHouse 25.11+ makes them (16 lowercase)."""
    return "".join(secrets.choice(_TAG_ALPHABET) for _ in range(16))


def exception_block(message: str, tag: str) -> bytes:
    """An exception after data was sent, framed so clients can tell it from data."""
    text = message.rstrip("\n").encode()
    return (
        b"\r\n__exception__\r\n"
        + tag.encode()
        + b"\r\n"
        + text
        + b"\n"
        + f"{len(text)} {tag}".encode()
        + b"\r\n__exception__\r\n"
    )


def content_type(fmt: str) -> str:
    if fmt.startswith(("TabSeparated", "TSV")):
        return _CONTENT_TYPES["TSV"]
    if fmt in _BINARY_FORMATS:
        return "application/octet-stream"
    return _CONTENT_TYPES.get(fmt, "text/plain; charset=UTF-8")


@dataclass
class Summary:
    """The ``X-ClickHouse-Summary`` counters (ClickHouse writes every number as a string)."""

    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    elapsed_ns: int = 0

    def header(self) -> str:
        return json.dumps(
            {
                "read_rows": str(self.read_rows),
                "read_bytes": str(self.read_bytes),
                "written_rows": str(self.written_rows),
                "written_bytes": str(self.written_bytes),
                "total_rows_to_read": str(self.read_rows),
                "result_rows": str(self.result_rows),
                "result_bytes": str(self.result_bytes),
                "elapsed_ns": str(self.elapsed_ns),
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class ServerIdentity:
    display_name: str
    timezone: str
    version: str


def response_headers(
    identity: ServerIdentity,
    query_id: str,
    fmt: str | None,
    summary: Summary | None,
    tag: str | None = None,
) -> dict[str, str]:
    """Headers of an answer; ``fmt`` None for a statement that returns no result set."""
    headers = {
        "X-ClickHouse-Server-Display-Name": identity.display_name,
        "X-ClickHouse-Query-Id": query_id,
        "X-ClickHouse-Timezone": identity.timezone,
        "Access-Control-Expose-Headers": "X-ClickHouse-Query-Id,X-ClickHouse-Summary,"
        "X-ClickHouse-Server-Display-Name,X-ClickHouse-Format,X-ClickHouse-Timezone,"
        "X-ClickHouse-Exception-Code,X-ClickHouse-Exception-Tag",
        "Content-Type": content_type(fmt) if fmt else "text/plain; charset=UTF-8",
    }
    if fmt:
        headers["X-ClickHouse-Format"] = fmt
    if summary is not None:
        headers["X-ClickHouse-Summary"] = summary.header()
    if tag:
        headers["X-ClickHouse-Exception-Tag"] = tag
    return headers


def error_headers(
    identity: ServerIdentity,
    query_id: str,
    error: errors.ClickHouseError,
) -> dict[str, str]:
    headers = response_headers(identity, query_id, None, None)
    headers["X-ClickHouse-Exception-Code"] = str(error.code)
    if error.code == errors.REQUIRED_PASSWORD:
        headers["WWW-Authenticate"] = 'Basic realm="ClickHouse server HTTP API"'
    return headers
