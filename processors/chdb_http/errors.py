"""chdb_http's errors; ClickHouse-shaped ones are what the server turns into an HTTP answer.

Every exception chdb_http raises derives from one root::

    ChdbHttpError
    ├── ClickHouseError        a failure with a ClickHouse code, answered over HTTP
    │   └── EngineError        raised by the chdb engine, in its own words
    ├── UsersConfigError       the users cannot be used, or are unsafe for the bind address
    └── NeedMore               (sql) a request's text is cut short: read more of its body

Clients recognise a failure by three things, so all three are kept exact: the
``X-ClickHouse-Exception-Code`` header, the HTTP status ClickHouse uses for that
code, and a body ``Code: N. DB::Exception: <text> (NAME) (version V)`` from which
clickhouse-connect and clickhouse-go parse the code and the symbolic name.
"""

from __future__ import annotations

import re
from http import HTTPStatus

# Codes this server raises itself; the engine's own errors keep the code chdb gave.
UNSUPPORTED_METHOD = 1
BAD_ARGUMENTS = 36
NOT_IMPLEMENTED = 48
LOGICAL_ERROR = 49
SYNTAX_ERROR = 62
UNKNOWN_FORMAT = 73
UNKNOWN_TYPE_OF_QUERY = 78
UNKNOWN_COMPRESSION_METHOD = 89
REQUIRED_PASSWORD = 194
TIMEOUT_EXCEEDED = 159
TOO_MANY_SIMULTANEOUS_QUERIES = 202
QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING = 216
READONLY = 164
QUERY_IS_TOO_LARGE = 229
CANNOT_DECOMPRESS = 271
SUPPORT_IS_DISABLED = 344
INTO_OUTFILE_NOT_ALLOWED = 358
QUERY_WAS_CANCELLED = 394
SESSION_NOT_FOUND = 372
SESSION_IS_LOCKED = 373
HTTP_LENGTH_REQUIRED = 381
SETTING_CONSTRAINT_VIOLATION = 452
ACCESS_DENIED = 497
AUTHENTICATION_FAILED = 516

NAMES = {
    UNSUPPORTED_METHOD: "UNSUPPORTED_METHOD",
    BAD_ARGUMENTS: "BAD_ARGUMENTS",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
    LOGICAL_ERROR: "LOGICAL_ERROR",
    SYNTAX_ERROR: "SYNTAX_ERROR",
    UNKNOWN_FORMAT: "UNKNOWN_FORMAT",
    UNKNOWN_TYPE_OF_QUERY: "UNKNOWN_TYPE_OF_QUERY",
    UNKNOWN_COMPRESSION_METHOD: "UNKNOWN_COMPRESSION_METHOD",
    REQUIRED_PASSWORD: "REQUIRED_PASSWORD",
    TIMEOUT_EXCEEDED: "TIMEOUT_EXCEEDED",
    TOO_MANY_SIMULTANEOUS_QUERIES: "TOO_MANY_SIMULTANEOUS_QUERIES",
    QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING: "QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING",
    READONLY: "READONLY",
    QUERY_IS_TOO_LARGE: "QUERY_IS_TOO_LARGE",
    CANNOT_DECOMPRESS: "CANNOT_DECOMPRESS",
    SUPPORT_IS_DISABLED: "SUPPORT_IS_DISABLED",
    INTO_OUTFILE_NOT_ALLOWED: "INTO_OUTFILE_NOT_ALLOWED",
    QUERY_WAS_CANCELLED: "QUERY_WAS_CANCELLED",
    SESSION_NOT_FOUND: "SESSION_NOT_FOUND",
    SESSION_IS_LOCKED: "SESSION_IS_LOCKED",
    HTTP_LENGTH_REQUIRED: "HTTP_LENGTH_REQUIRED",
    SETTING_CONSTRAINT_VIOLATION: "SETTING_CONSTRAINT_VIOLATION",
    ACCESS_DENIED: "ACCESS_DENIED",
    AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
}

# ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp).
_FORBIDDEN = {
    192,
    193,
    516,
    497,
}  # UNKNOWN_USER, WRONG_PASSWORD, AUTHENTICATION_FAILED, ACCESS_DENIED
_BAD_REQUEST = {
    36,
    427,
    6,
    25,
    26,
    38,
    41,
    72,
    441,
    499,
    500,
    27,
    376,
    15,
    44,
    37,
    123,
    8,
    167,
    168,
    223,
    62,
    117,
    53,
    321,
}
_NOT_FOUND = {60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78, 511}
_STATUS = {
    194: HTTPStatus.UNAUTHORIZED,
    229: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    48: HTTPStatus.NOT_IMPLEMENTED,
    202: HTTPStatus.SERVICE_UNAVAILABLE,
    209: HTTPStatus.SERVICE_UNAVAILABLE,
    76: HTTPStatus.SERVICE_UNAVAILABLE,
    381: HTTPStatus.LENGTH_REQUIRED,
    159: HTTPStatus.REQUEST_TIMEOUT,
    439: HTTPStatus.SERVICE_UNAVAILABLE,
    415: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
}

_CODE = re.compile(r"Code: (\d+)\. ")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")
_VERSION_TRAILER = re.compile(r"\s*\(version [^()]*(?:\([^()]*\))?[^()]*\)\s*$")


class ChdbHttpError(Exception):
    """The root of every error chdb_http raises."""


class ClickHouseError(ChdbHttpError):
    """An error with a ClickHouse code; ``text`` is the message without prefix and suffix."""

    def __init__(self, code: int, text: str, name: str | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text.strip()
        self.name = name or NAMES.get(code, "UNKNOWN_EXCEPTION")

    @property
    def status(self) -> int:
        return http_status(self.code)

    def body(self, version: str) -> str:
        """The error body exactly as ClickHouse writes it, newline included."""
        return f"Code: {self.code}. DB::Exception: {self.text}. ({self.name}) (version {version})\n"


class EngineError(ClickHouseError):
    """An error raised by the engine: its message is already in ClickHouse's own words."""

    def __init__(self, message: str) -> None:
        message = message.strip()
        start = message.find("Code: ")
        if start > 0:
            message = message[start:]
        match = _CODE.match(message)
        names = _NAME.findall(message)
        super().__init__(
            int(match[1]) if match else LOGICAL_ERROR, message, names[-1] if names else None
        )
        self.full = _VERSION_TRAILER.sub("", message) if match else None

    def body(self, version: str) -> str:
        if self.full is None:
            return super().body(version)
        return f"{self.full} (version {version})\n"


class UsersConfigError(ChdbHttpError, ValueError):
    """The users file or passwords cannot be used, or are unsafe for the bind address."""


def http_status(code: int) -> int:
    """The HTTP status ClickHouse answers with for an exception ``code``."""
    if code in _FORBIDDEN:
        return HTTPStatus.FORBIDDEN
    if code in _BAD_REQUEST:
        return HTTPStatus.BAD_REQUEST
    if code in _NOT_FOUND:
        return HTTPStatus.NOT_FOUND
    return _STATUS.get(code, HTTPStatus.INTERNAL_SERVER_ERROR)
