"""``runstream store serve``: runstream's store served by chdb_http, with runstream's parts.

chdb_http serves any chdb store; this module adds what makes it runstream's owner:

* the store lock (:class:`StoreLock`), taken first, so a second owner fails with the
  holder's address instead of chdb's bare error, and released last;
* the schema migrations, applied as chdb_http's ``on_open`` hook, before the port opens;
* the local spool's intake (:class:`SpoolIngester`), a chdb_http background task.

Stopping runs backwards: chdb_http stops accepting, lets requests in flight finish,
stops the ingester and closes the engine; then the lock is released, so the next
owner finds a consistent store.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import chdb_http
from runstream.settings import Settings

from .connection import get_client
from .ingester import SpoolIngester
from .lock import StoreLock
from .migrations import apply_migrations

log = logging.getLogger("runstream.server")

PURPOSE = "runstream store serve"
DEFAULT_INGEST_INTERVAL = 1.0
MAX_BODY_HINT = "runstream store serve --max-body-mb"
MAX_QUERY_SIZE_HINT = "runstream store serve --max-query-size"
BIND_ADVICE = (
    "set RUNSTREAM_SERVER_PASSWORD (and RUNSTREAM_SERVER_READONLY_PASSWORD), "
    "or give a users file (--users-file or RUNSTREAM_SERVER_USERS)"
)


def load_users(settings: Settings, users_file: Path | None = None) -> chdb_http.Users:
    """The server's users: ``users_file``, else those the settings name (file or passwords)."""
    return chdb_http.load_users(
        users_file or settings.server_users_file,
        password=settings.server_password,
        readonly_password=settings.server_readonly_password,
    )


def server_config(
    settings: Settings, users: chdb_http.Users, **options: Any
) -> chdb_http.ServerConfig:
    """The server of ``settings``' store; ``options`` override ServerConfig's defaults."""
    options.setdefault("max_body_hint", MAX_BODY_HINT)
    options.setdefault("max_query_size_hint", MAX_QUERY_SIZE_HINT)
    return chdb_http.ServerConfig(store_dir=settings.store_dir, users=users, **options)


def serve_store(
    config: chdb_http.ServerConfig,
    spool_dir: Path,
    ingest_interval: float = DEFAULT_INGEST_INTERVAL,
) -> None:
    """Own and serve the store until SIGTERM or SIGINT; StoreBusyError if it has an owner.

    ``spool_dir`` is taken in every ``ingest_interval`` seconds while serving (0: never).
    """
    config.users.check_bind(config.host, advice=BIND_ADVICE)
    with StoreLock(config.store_dir, purpose=PURPOSE, url=config.url) as lock:
        lock.acquire(0.0)
        background = [SpoolIngester(spool_dir, ingest_interval)] if ingest_interval > 0 else []
        chdb_http.serve(config, on_open=migrate, background=background)
    log.info("store %s closed and released", config.store_dir)


def migrate(dsn: str) -> None:
    """Bring the schema of the store at ``dsn`` up to date (chdb_http's ``on_open``)."""
    client = get_client(dsn)
    try:
        applied = apply_migrations(client)
    finally:
        client.close()
    if applied:
        log.info("applied migrations %s", ", ".join(f"{version:04d}" for version in applied))
