"""Limits no client can lift: the engine's own settings constraints, and a cap on queries.

chdb has one engine per process and that engine reads a ClickHouse configuration:
the server writes one (``engine.xml`` in its private staging directory) before the
store opens, with

* ``max_server_memory_usage``: all queries together (and merges, and in-process
  clients) never take more; past it a query fails with MEMORY_LIMIT_EXCEEDED (241);
* settings constraints on the default profile, which every connection runs as: a
  request may lower ``max_execution_time``, ``max_memory_usage``, ``max_threads``,
  ``max_result_bytes``... but never raise them past the server's value nor set them to
  0 (unlimited), whether in the URL, a ``SET`` or a ``SETTINGS`` clause inside the
  query text; the engine answers SETTING_CONSTRAINT_VIOLATION (452) itself;
* settings that would let a query hide its memory from the accounting, fixed.

Each request's connection then starts at the server's values (``session_settings``),
so a query over them fails with TIMEOUT_EXCEEDED (159), MEMORY_LIMIT_EXCEEDED (241) or
TOO_MANY_ROWS_OR_BYTES (396). How many queries run at once is capped by the request
handler (:class:`QuerySlots`): past the cap a request waits a little, then gets
TOO_MANY_SIMULTANEOUS_QUERIES (202).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from . import errors

MIB = 1024 * 1024
DEFAULT_MAX_QUERY_MEMORY_MB = 2048
DEFAULT_MAX_RESULT_MB = 1024
DEFAULT_QUEUE_WAIT_SECONDS = 10.0

# Settings no request may change at all: each would let memory go unaccounted or
# loosen the server's limits in a way a max constraint cannot express.
FIXED_SETTINGS = (
    "max_untracked_memory",
    "memory_profiler_step",
    "memory_overcommit_ratio_denominator",
    "memory_overcommit_ratio_denominator_for_user",
    "memory_usage_overcommit_max_wait_microseconds",
    "max_memory_usage_for_user",
    "max_temporary_data_on_disk_size_for_user",
    "max_temporary_data_on_disk_size_for_query",
)

# Settings that may not go above ClickHouse's default: each bounds work the engine cannot
# interrupt to check the time limit.
FIXED_CEILINGS = {"function_sleep_max_microseconds_per_block": "3000000"}


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024 * MIB


def default_server_memory_mb() -> int:
    """Half the machine's memory: room for the rest of the host and chdb's own caches."""
    return max(1024, _physical_memory() // MIB // 2)


def default_threads() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    """The server's limits; every one is a ceiling a request may only lower."""

    max_query_seconds: float = 300.0
    max_query_memory_bytes: int = DEFAULT_MAX_QUERY_MEMORY_MB * MIB
    max_server_memory_bytes: int = field(default_factory=lambda: default_server_memory_mb() * MIB)
    max_threads: int = field(default_factory=default_threads)
    max_result_bytes: int = DEFAULT_MAX_RESULT_MB * MIB
    max_concurrent_queries: int = 0
    """0: as many as the server has engine threads."""
    queue_wait_seconds: float = DEFAULT_QUEUE_WAIT_SECONDS
    """How long a query waits for a free slot before TOO_MANY_SIMULTANEOUS_QUERIES."""
    engine_max_query_size: int = 262144
    """The engine's own ``max_query_size`` (above the router's, which enforces the limit)."""
    overrun_grace_seconds: float = 1.0
    """How far past its time limit a query runs before the watchdog cancels it."""

    def ceilings(self) -> dict[str, str]:
        """The capped settings and their ceilings, as the engine spells values."""
        return {
            "max_execution_time": f"{self.max_query_seconds:g}",
            "max_memory_usage": str(self.max_query_memory_bytes),
            "max_threads": str(self.max_threads),
            "max_result_bytes": str(self.max_result_bytes),
        }

    def session_settings(self, time_limit: float) -> dict[str, str]:
        """What each request's connection starts with (the request may lower them)."""
        settings = self.ceilings()
        settings["max_execution_time"] = f"{min(time_limit, self.max_query_seconds):g}"
        settings["result_overflow_mode"] = "throw"
        settings["timeout_overflow_mode"] = "throw"
        return settings

    def engine_config(self) -> str:
        """The engine's configuration (server settings, users and constraints) as XML."""
        minimum = {"max_execution_time": "0.001"}
        constraints = "".join(
            f"<{name}><min>{minimum.get(name, '1')}</min><max>{escape(value)}</max></{name}>"
            for name, value in self.ceilings().items()
        )
        constraints += "".join(
            f"<{name}><max>{value}</max></{name}>" for name, value in FIXED_CEILINGS.items()
        )
        constraints += "".join(f"<{name}><readonly/></{name}>" for name in FIXED_SETTINGS)
        return (
            "<clickhouse>"
            f"<max_server_memory_usage>{self.max_server_memory_bytes}</max_server_memory_usage>"
            "<profiles><default>"
            f"<max_query_size>{self.engine_max_query_size}</max_query_size>"
            f"<constraints>{constraints}</constraints>"
            "</default></profiles>"
            "<users><default><profile>default</profile><password></password>"
            "<networks><ip>::1</ip><ip>127.0.0.1</ip></networks><quota>default</quota>"
            "</default></users>"
            "</clickhouse>\n"
        )


class QuerySlots:
    """At most ``size`` queries at once; the next waits ``wait`` seconds, then is refused."""

    def __init__(self, size: int, wait: float) -> None:
        self.size = size
        self.wait = wait
        self._free = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._free.acquire(), timeout=max(self.wait, 0.0) or 0.001)
        except TimeoutError:
            raise errors.ClickHouseError(
                errors.TOO_MANY_SIMULTANEOUS_QUERIES,
                f"Too many simultaneous queries. Maximum: {self.size}",
            ) from None
        try:
            yield
        finally:
            self._free.release()
