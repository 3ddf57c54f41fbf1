"""``runstream sync``: ship to Kafka what dead or finished training processes left in the spool.

A training process ships its own spool in the background; whatever it could not get
acknowledged before it ended (broker down, killed, finish timeout) stays on disk
until this command sends it. Safe to run any time, also beside live runs.
"""

from __future__ import annotations

import sys

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from runstream.artifacts import upload_pending
from runstream.settings import Settings
from runstream.shipper import ShipperOptions, SyncReport, forget_damage, ship_leftovers
from runstream.spool import SegmentDamage, consumer_lock

from ..sinks.base import DeadLetter
from .context import settings_from
from .output import errors

_LOCK_WAIT_S = 5.0
DAMAGE_SOURCE = "spool-kafka"
"""The dead letters' ``source`` for damage found in team mode's spool."""
_DAMAGE_SHOWN = 20


@click.command("sync")
@click.option(
    "--timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="give up after this many seconds (what is left stays in the spool)",
)
@click.pass_context
def sync_command(ctx: click.Context, timeout: float) -> None:
    """Ship leftover spooled events to Kafka and artifacts to S3; exit 1 if some are left.

    Spool damage (bytes no reader can take) is listed, and written to the store as dead
    letters when RUNSTREAM_CLICKHOUSE_URL is set; without a store it is kept in the spool
    and the command exits 1 so that it is not forgotten.
    """
    settings = settings_from(ctx)
    artifacts_left = _upload_artifacts(settings) if settings.s3_endpoint else 0
    if not settings.kafka_bootstrap:
        if settings.s3_endpoint:
            sys.exit(1 if artifacts_left else 0)
        raise click.ClickException(
            "nothing to sync without a broker: set RUNSTREAM_KAFKA_BOOTSTRAP (in embedded mode "
            "every query takes in the local spool itself)"
        )
    with consumer_lock(settings.spool_dir, "kafka-sync", _LOCK_WAIT_S), _progress() as progress:
        task = progress.add_task("ship", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        options = ShipperOptions.from_settings(settings)
        report = ship_leftovers(
            settings.spool_dir,
            settings.kafka_bootstrap,
            settings.kafka_topic,
            timeout,
            options,
            on_progress,
            retention_s=settings.spool_retention_s,
        )
    _explain(report, settings.kafka_bootstrap, timeout)
    damage_left = _record_damage(settings, report.damage)
    if report.pending_bytes or artifacts_left or damage_left:
        sys.exit(1)  # not ctx.exit: main() runs click with standalone_mode=False


def _record_damage(settings: Settings, damage: tuple[SegmentDamage, ...]) -> bool:
    """Report the spool damage and, with a store configured, make it dead letters there.

    Returns whether damage is left unrecorded (only in the spool's damage log): then the
    command exits 1, and a later run with RUNSTREAM_CLICKHOUSE_URL records it.
    """
    if not damage:
        return False
    errors.print(
        f"[yellow]spool damage: {len(damage)} damaged spans were skipped, not shipped:[/]",
        highlight=False,
    )
    for item in damage[:_DAMAGE_SHOWN]:
        errors.print(f"  {item.describe()}", highlight=False)
    if len(damage) > _DAMAGE_SHOWN:
        errors.print(f"  ... and {len(damage) - _DAMAGE_SHOWN} more", highlight=False)
    if not settings.clickhouse_url:
        errors.print(
            "[yellow]no store configured (RUNSTREAM_CLICKHOUSE_URL): the damage stays in "
            f"{settings.spool_dir}/checkpoints and is reported again by the next sync[/]",
            highlight=False,
        )
        return True
    try:
        _write_dead_letters(settings, damage)
    except Exception as exc:  # the report above stands; the next sync tries again
        errors.print(
            f"[red]could not record the spool damage as dead letters in the store: {exc}[/]",
            highlight=False,
        )
        return True
    errors.print(f"recorded {len(damage)} spool damage dead letters in the store")
    try:
        forget_damage(settings.spool_dir, damage)
    except OSError as exc:  # reported again next time; the store deduplicates the letters
        errors.print(f"[yellow]could not clear the spool damage log: {exc}[/]", highlight=False)
    return False


def _write_dead_letters(settings: Settings, damage: tuple[SegmentDamage, ...]) -> None:
    from ..sinks.clickhouse import ClickHouseSink
    from ..store.connection import open_store

    letters = [DeadLetter("spool_damage", item.describe(), b"", DAMAGE_SOURCE) for item in damage]
    with open_store(settings, "sync") as client:
        sink = ClickHouseSink(client)
        try:
            sink.write_dead_letters(letters)
        finally:
            sink.close()


def _upload_artifacts(settings: Settings) -> int:
    """Upload artifacts a run could not ship before it ended; returns how many are still left."""
    uploads = upload_pending(settings)
    if uploads.uploaded or uploads.failed:
        errors.print(
            f"uploaded {uploads.uploaded} pending artifacts; "
            f"{len(uploads.failed)} failed (kept locally)"
        )
    return len(uploads.failed)


def _progress() -> Progress:
    return Progress(
        TextColumn("shipping the spool to Kafka"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
    )


def _explain(report: SyncReport, bootstrap: str, timeout: float) -> None:
    if report.shipped:
        errors.print(f"shipped {report.shipped} events to Kafka at {bootstrap}")
    if report.too_large:
        errors.print(
            f"[yellow]{report.too_large} events are too large for Kafka and stay in the "
            "spool only[/]"
        )
    if report.damaged_segments and not report.damage:
        errors.print(
            f"[yellow]{report.damaged_segments} spool segments are damaged; the "
            "unreadable bytes were skipped (the log names them)[/]"
        )
    if report.pending_bytes:
        errors.print(
            f"[red]{report.pending_bytes} bytes are still in the spool: Kafka at "
            f"{bootstrap} did not take them within {timeout:.0f}s; run `runstream sync` "
            "again[/]",
            highlight=False,
        )
    elif not report.shipped:
        errors.print("nothing to sync: the spool is fully shipped")
