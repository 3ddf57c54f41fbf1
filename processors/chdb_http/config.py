"""What one server needs to know, resolved once at start."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from .auth import Users
from .limits import (
    DEFAULT_MAX_QUERY_MEMORY_MB,
    DEFAULT_MAX_RESULT_MB,
    DEFAULT_QUEUE_WAIT_SECONDS,
    MIB,
    Limits,
    default_server_memory_mb,
    default_threads,
)
from .sql import DEFAULT_MAX_QUERY_SIZE as DEFAULT_MAX_QUERY_SIZE

ENGINE_QUERY_ROOM = 64
"""Bytes the server adds around a query's text for the engine (``EXPLAIN AST …``): the
router enforces ``max_query_size``; the engine's own limit (for in-process clients too,
such as migrations) is never below ClickHouse's default, and that much higher."""
DEFAULT_PORT = 8123
DEFAULT_MAX_BODY_MB = 1024
DEFAULT_MAX_QUERY_SECONDS = 300.0


@dataclass(frozen=True)
class ServerConfig:
    store_dir: Path
    """The chdb store this server opens and owns."""
    users: Users
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_MB * 1024 * 1024
    """Largest request body, after decompression (inserts included)."""
    max_body_hint: str = ""
    """Named in the body-too-large error as the way to raise the limit (e.g. a flag)."""
    max_query_size: int = DEFAULT_MAX_QUERY_SIZE
    """Longest SQL text of a request (ClickHouse's ``max_query_size``): for an INSERT, the
    text before its data; a request's ``max_query_size`` setting may lower it, not raise it."""
    max_query_size_hint: str = ""
    """Named in the query-too-large errors as the way to raise the limit (e.g. a flag)."""
    max_query_seconds: float = DEFAULT_MAX_QUERY_SECONDS
    """``max_execution_time`` for every query; a request may lower it, never raise it."""
    max_query_memory_bytes: int = DEFAULT_MAX_QUERY_MEMORY_MB * MIB
    """``max_memory_usage`` of every query (a ceiling, as all limits here: see limits.py)."""
    max_server_memory_bytes: int = field(default_factory=lambda: default_server_memory_mb() * MIB)
    """All queries, merges and in-process clients together (``max_server_memory_usage``)."""
    max_threads: int = field(default_factory=default_threads)
    """``max_threads`` of every query."""
    max_result_bytes: int = DEFAULT_MAX_RESULT_MB * MIB
    """``max_result_bytes`` of every query: a larger result fails with code 396."""
    max_concurrent_queries: int = 0
    """Queries running at once (0: ``workers``); past it a query waits ``queue_wait_seconds``,
    then gets TOO_MANY_SIMULTANEOUS_QUERIES (202)."""
    queue_wait_seconds: float = DEFAULT_QUEUE_WAIT_SECONDS
    allow_table_functions: frozenset[str] = frozenset()
    """Table functions every writer may use beside the defaults (guard.py), e.g. {"url"}."""
    workers: int = field(default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)))
    """Threads running engine calls: at most this many queries run at once, others wait."""
    shutdown_grace: float = 30.0
    """How long SIGTERM waits for requests in flight before closing the store anyway."""
    display_name: str = field(default_factory=socket.gethostname)
    tmp_dir: Path | None = None
    """Where insert bodies are staged for the engine (default: ``<store>.tmp`` beside it)."""

    @property
    def limits(self) -> Limits:
        return Limits(
            max_query_seconds=self.max_query_seconds,
            max_query_memory_bytes=self.max_query_memory_bytes,
            max_server_memory_bytes=self.max_server_memory_bytes,
            max_threads=self.max_threads,
            max_result_bytes=self.max_result_bytes,
            max_concurrent_queries=self.max_concurrent_queries or self.workers,
            queue_wait_seconds=self.queue_wait_seconds,
            engine_max_query_size=max(self.max_query_size, DEFAULT_MAX_QUERY_SIZE)
            + ENGINE_QUERY_ROOM,
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def staging_dir(self) -> Path:
        return self.tmp_dir or self.store_dir.with_name(self.store_dir.name + ".tmp")
