"""What one server needs to know, resolved once at start."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from .auth import Users
from .sql import DEFAULT_MAX_QUERY_SIZE as DEFAULT_MAX_QUERY_SIZE

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
    workers: int = field(default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)))
    """Threads running engine calls: at most this many queries run at once, others wait."""
    shutdown_grace: float = 30.0
    """How long SIGTERM waits for requests in flight before closing the store anyway."""
    display_name: str = field(default_factory=socket.gethostname)
    tmp_dir: Path | None = None
    """Where insert bodies are staged for the engine (default: ``<store>.tmp`` beside it)."""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def staging_dir(self) -> Path:
        return self.tmp_dir or self.store_dir.with_name(self.store_dir.name + ".tmp")
