"""The owner's life: lock the store, open it, migrate, serve, and on SIGTERM stop cleanly.

Order matters. The lock comes first, so a second owner fails with the holder's
address instead of chdb's bare error. Stopping runs backwards: stop accepting,
let requests in flight finish (up to ``shutdown_grace``), stop the spool taker,
close the engine, release the lock, so the next owner finds a consistent store.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from ..store.connection import get_client
from ..store.lock import StoreLock
from ..store.migrations import apply_migrations
from .app import QueryHandler, build_app
from .background import SpoolIngester
from .config import ServerConfig
from .engine import Engine

log = logging.getLogger("runstream.server")

MAX_URL_BYTES = 1024 * 1024  # ClickHouse's http_max_uri_size
MAX_HEADER_BYTES = 128 * 1024
PURPOSE = "runstream store serve"


def serve(config: ServerConfig) -> None:
    """Serve the store until SIGTERM or SIGINT; raises StoreBusyError if it has an owner."""
    config.users.check_bind(config.host)
    with StoreLock(config.store_dir, purpose=PURPOSE, url=config.url) as lock:
        lock.acquire(0.0)
        engine = Engine(config.store_dir, config.staging_dir, config.display_name)
        engine.open()
        try:
            _migrate(engine)
            asyncio.run(_serve(engine, config))
        finally:
            engine.close()
    log.info("store %s closed and released", config.store_dir)


def _migrate(engine: Engine) -> None:
    client = get_client(engine.dsn)
    try:
        applied = apply_migrations(client)
    finally:
        client.close()
    if applied:
        log.info("applied migrations %s", ", ".join(f"{version:04d}" for version in applied))


async def _serve(engine: Engine, config: ServerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="runstream-query")
    ingester = (
        SpoolIngester(engine.dsn, config.spool_dir, config.ingest_interval)
        if config.ingest_interval > 0
        else None
    )
    runner = web.AppRunner(
        build_app(QueryHandler(engine, config, executor), MAX_URL_BYTES),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=config.shutdown_grace,
        max_line_size=MAX_URL_BYTES,
        max_field_size=MAX_HEADER_BYTES,
        auto_decompress=False,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port, reuse_address=True).start()
        if ingester is not None:
            ingester.start()
        log.info(
            "serving the store %s at %s (ClickHouse %s over HTTP)",
            config.store_dir,
            config.url,
            engine.identity.version,
        )
        await stop.wait()
        log.info("stopping: finishing requests in flight")
    finally:
        await runner.cleanup()
        if ingester is not None:
            await loop.run_in_executor(None, ingester.stop)
        executor.shutdown(wait=True)
