"""Open the store: a ClickHouse server when one is configured, the embedded chdb store otherwise.

Both go through clickhouse-connect, so the sink, the CLI and the tests share one
code path (``chdb:///abs/path`` in-process, ``http://...`` for a server).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from runstream.errors import MissingExtraError
from runstream.settings import Settings

from ..errors import StoreUnavailableError
from .lock import StoreLock
from .migrations import apply_migrations

DEFAULT_LOCK_WAIT_S = 30.0


def get_client(dsn: str) -> Any:
    """A clickhouse-connect client for ``dsn``; names the extra to install when missing."""
    try:
        import clickhouse_connect
    except ImportError as exc:
        raise MissingExtraError("clickhouse-connect", "store") from exc
    try:
        if dsn.startswith("chdb:"):
            return clickhouse_connect.get_client(dsn=dsn)
        return clickhouse_connect.get_client(dsn=dsn, autogenerate_session_id=False)
    except Exception as exc:
        raise StoreUnavailableError(
            f"cannot connect to the store at {_redacted(dsn)}: {exc}"
        ) from exc


def embedded_dsn(settings: Settings) -> str:
    return f"chdb://{settings.store_dir}"


@contextlib.contextmanager
def open_store(
    settings: Settings, purpose: str, lock_wait: float = DEFAULT_LOCK_WAIT_S, migrate: bool = True
) -> Iterator[Any]:
    """A migrated client for the configured store; the embedded one is locked while open."""
    with contextlib.ExitStack() as stack:
        if settings.clickhouse_url:
            dsn = settings.clickhouse_url
        else:
            stack.enter_context(StoreLock(settings.store_dir, purpose)).acquire(lock_wait)
            dsn = embedded_dsn(settings)
        client = get_client(dsn)
        stack.callback(client.close)
        if migrate:
            apply_migrations(client)
        yield client


def _redacted(dsn: str) -> str:
    if "@" in dsn and "://" in dsn:
        scheme, rest = dsn.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return dsn
