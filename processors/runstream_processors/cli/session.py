"""Open the store for one CLI call, after taking in whatever the spool holds.

Queries always see what has been logged: pending spool data (including what a
killed training process had flushed) is ingested first, with a progress bar when
there is a lot of it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runstream.settings import Settings

from ..errors import NoStoreError
from ..ingest.pending import mark_caught_up, pending_bytes
from ..store.connection import open_store
from .output import errors

if TYPE_CHECKING:
    from ..ingest.spool import IngestReport

_PROGRESS_ABOVE_BYTES = 4 * 1024 * 1024
_STATUS_CHECK_S = 10.0


@contextlib.contextmanager
def store_for_query(settings: Settings, purpose: str, ingest: bool = True) -> Iterator[Any]:
    """A client on the configured store, with the local spool taken in first.

    Without a server, the embedded store or the spool must already exist: a query run
    from the wrong directory fails with where it looked, rather than creating an empty
    store and answering ``0 runs``.
    """
    require_local_data(settings)
    with open_store(settings, purpose) as client:
        report = take_in_spool(client, settings) if ingest else None
        if report is not None and report.dead_letters:
            reasons = ", ".join(f"{count} {reason}" for reason, count in report.reasons.items())
            errors.print(
                f"[yellow]runstream: {report.dead_letters} invalid events set aside "
                f"as dead letters ({reasons}); see runstream.dead_letters[/]"
            )
        yield client


def require_local_data(settings: Settings) -> None:
    """Raise :class:`NoStoreError` when no server is set and nothing is under the data dir."""
    if settings.clickhouse_url:
        return
    if settings.store_dir.exists() or settings.local_spool_dir.exists():
        return
    raise NoStoreError(
        f"no runstream store at {settings.root} (looked for {settings.store_dir} and "
        f"{settings.local_spool_dir}). Run from the directory your training ran in, or "
        "point at its data with --dir PATH or RUNSTREAM_DIR=PATH, or set "
        "RUNSTREAM_CLICKHOUSE_URL to query a server"
    )


def take_in_spool(client: Any, settings: Settings) -> IngestReport | None:
    """Take in the local spool; None when it holds nothing new (nothing heavy is imported).

    In embedded mode the spool is the whole pipeline, so once it is taken in the store is
    told so: a run whose heartbeat is overdue then shows as crashed, not delayed.
    """
    report = _ingest(client, settings)
    if settings.clickhouse_url is None:
        mark_caught_up(client)
        _check_statuses(client, settings, took_in=report is not None)
    return report


def _check_statuses(client: Any, settings: Settings, took_in: bool) -> None:
    """Stalled and crashed runs become alerts: in embedded mode the CLI is the pipeline.

    The check reads the ``runs`` view (~40 ms), so calls in quick succession that took in
    nothing new skip it: at most one every ``_STATUS_CHECK_S`` seconds then.
    """
    marker = settings.root / "alerts-checked"
    with contextlib.suppress(OSError):
        if not took_in and time.time() - marker.stat().st_mtime < _STATUS_CHECK_S:
            return
    from ..alerts.status import check_statuses
    from ..alerts.webhook import notifier_for

    check_statuses(client, "spool", notifier_for(settings))
    with contextlib.suppress(OSError):
        marker.touch()


def _ingest(client: Any, settings: Settings) -> IngestReport | None:
    pending = pending_bytes(settings.local_spool_dir)
    if not pending:
        return None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from ..ingest.spool import ingest_spool

    retention = settings.spool_retention_s
    if pending < _PROGRESS_ABOVE_BYTES:
        return ingest_spool(client, settings.local_spool_dir, retention_s=retention)
    with Progress(
        TextColumn("taking in the spool"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task("ingest", total=pending)
        return ingest_spool(
            client,
            settings.local_spool_dir,
            on_progress=lambda done: progress.advance(task, done),
            retention_s=retention,
        )
