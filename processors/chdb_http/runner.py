"""The server's life: open the store, let the caller prepare it, serve, and on SIGTERM stop.

What is not generic plugs in through two hooks of :func:`serve`:

* ``on_open(dsn)`` runs once the store is open and before the port opens: schema
  migrations, say. ``dsn`` is the clickhouse-connect DSN of the store in this process
  (``chdb:///abs/path``); an in-process client must not outlive the call.
* ``background`` tasks (:class:`BackgroundTask`) start, in order, once the port
  accepts requests and stop, in reverse order, once requests in flight have finished
  and before the store closes.

Stopping runs backwards: stop accepting, let requests in flight finish (up to
``shutdown_grace``), stop the background tasks, close the engine, so whatever the
caller holds around :func:`serve` (a lock, say) is released on a consistent store.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from aiohttp import web

from .app import QueryHandler, build_app
from .config import ServerConfig
from .engine import Engine

log = logging.getLogger("chdb_http")

MAX_URL_BYTES = 1024 * 1024  # ClickHouse's http_max_uri_size
MAX_HEADER_BYTES = 128 * 1024


class BackgroundTask(Protocol):
    """Work done beside answering requests, for as long as the server serves."""

    def start(self, dsn: str) -> None:
        """Begin (without blocking); ``dsn`` opens the store in this process."""

    def stop(self) -> None:
        """End, waiting for work in progress; the store closes once this returns."""


OnOpen = Callable[[str], None]


def serve(
    config: ServerConfig,
    on_open: OnOpen | None = None,
    background: Sequence[BackgroundTask] = (),
) -> None:
    """Serve ``config.store_dir`` until SIGTERM or SIGINT (see the module docstring).

    Raises UsersConfigError when a passwordless user would be served off loopback, and
    EngineError when chdb cannot open the store.
    """
    config.users.check_bind(config.host)
    engine = Engine(config.store_dir, config.staging_dir, config.display_name, config.limits)
    engine.open()
    try:
        if on_open is not None:
            on_open(engine.dsn)
        asyncio.run(_serve(engine, config, background))
    finally:
        engine.close()
    log.info("store %s closed", config.store_dir)


async def _serve(
    engine: Engine, config: ServerConfig, background: Sequence[BackgroundTask]
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="chdb-http-query")
    runner = web.AppRunner(
        build_app(QueryHandler(engine, config, executor), MAX_URL_BYTES),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=config.shutdown_grace,
        max_line_size=MAX_URL_BYTES,
        max_field_size=MAX_HEADER_BYTES,
        auto_decompress=False,
    )
    started: list[BackgroundTask] = []
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port, reuse_address=True).start()
        for task in background:
            task.start(engine.dsn)
            started.append(task)
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
        for task in reversed(started):
            await loop.run_in_executor(None, task.stop)
        executor.shutdown(wait=True)
