"""``runstream store``: the embedded store's owner process, and later other store chores."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from chdb_http import ClickHouseError, UsersConfigError
from chdb_http.config import (
    DEFAULT_MAX_BODY_MB,
    DEFAULT_MAX_QUERY_SECONDS,
    DEFAULT_MAX_QUERY_SIZE,
    DEFAULT_PORT,
)
from chdb_http.limits import (
    DEFAULT_MAX_QUERY_MEMORY_MB,
    DEFAULT_MAX_RESULT_MB,
    DEFAULT_QUEUE_WAIT_SECONDS,
    MIB,
)
from runstream.settings import load_settings

from ..errors import ProcessorError
from ..store.serve import DEFAULT_INGEST_INTERVAL


@click.group("store")
def store() -> None:
    """The embedded store (chdb in store/ of the data directory: --dir, else RUNSTREAM_DIR)."""


@store.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="address to bind; anything but loopback needs passwords",
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--dir",
    "data_dir",
    type=click.Path(file_okay=False),
    help="local data directory whose store/ is served and whose spool/local/ is taken in "
    "[default: the CLI's --dir, else RUNSTREAM_DIR, else ./.runstream]",
)
@click.option(
    "--users-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="users (TOML or JSON); default: RUNSTREAM_SERVER_USERS, or "
    "RUNSTREAM_SERVER_PASSWORD / RUNSTREAM_SERVER_READONLY_PASSWORD",
)
@click.option(
    "--max-body-mb",
    default=DEFAULT_MAX_BODY_MB,
    show_default=True,
    type=click.IntRange(1),
    help="largest request body (after decompression)",
)
@click.option(
    "--max-query-size",
    default=DEFAULT_MAX_QUERY_SIZE,
    show_default=True,
    type=click.IntRange(1),
    help="longest SQL text of a request in bytes (ClickHouse's max_query_size; an INSERT's "
    "data does not count); a request may lower it",
)
@click.option(
    "--max-query-seconds",
    default=DEFAULT_MAX_QUERY_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="max_execution_time of every query",
)
@click.option(
    "--max-query-memory-mb",
    default=DEFAULT_MAX_QUERY_MEMORY_MB,
    show_default=True,
    type=click.IntRange(1),
    help="max_memory_usage of every query (a request may lower it, never raise it)",
)
@click.option(
    "--max-server-memory-mb",
    type=click.IntRange(64),
    help="memory of all queries together (max_server_memory_usage) [default: half the RAM]",
)
@click.option(
    "--max-threads",
    type=click.IntRange(1),
    help="max_threads of every query [default: the CPU count]",
)
@click.option(
    "--max-result-mb",
    default=DEFAULT_MAX_RESULT_MB,
    show_default=True,
    type=click.IntRange(1),
    help="max_result_bytes of every query",
)
@click.option(
    "--max-concurrent-queries",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="queries running at once; more wait --queue-wait-seconds, then get code 202 "
    "(0: the number of engine threads)",
)
@click.option(
    "--queue-wait-seconds",
    default=DEFAULT_QUEUE_WAIT_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0),
    help="how long a query waits for a free slot",
)
@click.option(
    "--allow-table-function",
    "allow_table_functions",
    multiple=True,
    help="a table function writers may use beside the defaults (e.g. url); repeatable",
)
@click.option(
    "--ingest-interval",
    default=DEFAULT_INGEST_INTERVAL,
    show_default=True,
    type=click.FloatRange(min=0),
    help="seconds between takes of the local spool; 0: off",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.pass_context
def serve_command(
    ctx: click.Context,
    host: str,
    port: int,
    data_dir: str | None,
    users_file: Path | None,
    max_body_mb: int,
    max_query_size: int,
    max_query_seconds: float,
    max_query_memory_mb: int,
    max_server_memory_mb: int | None,
    max_threads: int | None,
    max_result_mb: int,
    max_concurrent_queries: int,
    queue_wait_seconds: float,
    allow_table_functions: tuple[str, ...],
    ingest_interval: float,
    log_level: str,
) -> None:
    """Own the store and serve ClickHouse's HTTP interface over it until SIGTERM/SIGINT.

    Point any ClickHouse client at it (clickhouse-connect, clickhouse-go, Grafana's
    ClickHouse plugin over HTTP), or set RUNSTREAM_CLICKHOUSE_URL=http://HOST:PORT for
    the runstream CLI and workers while it runs.
    """
    from ..store.serve import load_users, serve_store, server_config

    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    root = data_dir or ctx.find_root().params.get("data_dir")
    limits: dict[str, object] = {
        "max_query_memory_bytes": max_query_memory_mb * MIB,
        "max_result_bytes": max_result_mb * MIB,
        "max_concurrent_queries": max_concurrent_queries,
        "queue_wait_seconds": queue_wait_seconds,
        "allow_table_functions": frozenset(name.lower() for name in allow_table_functions),
    }
    if max_server_memory_mb is not None:
        limits["max_server_memory_bytes"] = max_server_memory_mb * MIB
    if max_threads is not None:
        limits["max_threads"] = max_threads
    try:
        settings = load_settings(root)
        config = server_config(
            settings,
            load_users(settings, users_file),
            host=host,
            port=port,
            max_body_bytes=max_body_mb * 1024 * 1024,
            max_query_size=max_query_size,
            max_query_seconds=max_query_seconds,
            **limits,
        )
        serve_store(config, settings.local_spool_dir, ingest_interval)
    except (UsersConfigError, ProcessorError) as exc:
        raise click.ClickException(str(exc)) from exc
    except ClickHouseError as exc:
        raise click.ClickException(f"cannot open the store: {exc.text}") from exc
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from exc


if __name__ == "__main__":
    store()
