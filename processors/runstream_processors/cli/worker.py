"""``runstream worker``: consume ``runstream.events.v1`` into the store until SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..worker import WorkerOptions, run_worker
from ..worker.supervisor import supervise
from .context import settings_from


@click.command("worker")
@click.option("--partitions", default=WorkerOptions.partitions, show_default=True,
              type=click.IntRange(1, 10_000),
              help="partitions of the events topic, if this worker creates it")
@click.option("--batch-size", default=WorkerOptions.batch_size, show_default=True,
              type=click.IntRange(1, 100_000), help="most Kafka records per store write")
@click.option("--batch-wait", default=WorkerOptions.batch_wait_s, show_default=True,
              type=click.FloatRange(0.01, 60.0),
              help="seconds a partial batch waits for more records")
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 64),
              help="worker processes in this consumer group (more than one needs a ClickHouse "
                   "server: RUNSTREAM_CLICKHOUSE_URL)")
@click.option("--group", default=WorkerOptions.group, show_default=True,
              help="consumer group; workers of one group share the partitions")
@click.option("--dlq-topic", default=WorkerOptions.dlq_topic, show_default=True,
              help="where invalid events go (the events topic is RUNSTREAM_KAFKA_TOPIC)")
@click.option("--stats-interval", default=WorkerOptions.stats_interval_s, show_default=True,
              type=click.FloatRange(0.5, 3600.0), help="seconds between throughput/lag logs")
@click.option("--log-level", default=WorkerOptions.log_level, show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_context
def worker_command(ctx: click.Context, partitions: int, batch_size: int, batch_wait: float,
                   concurrency: int, group: str, dlq_topic: str, stats_interval: float,
                   log_level: str) -> None:
    """Validate events from Kafka, write them to the store, send invalid ones to the DLQ."""
    settings = settings_from(ctx)
    options = WorkerOptions(group=group, partitions=partitions, dlq_topic=dlq_topic,
                            batch_size=batch_size, batch_wait_s=batch_wait,
                            stats_interval_s=stats_interval, log_level=log_level)
    if concurrency == 1:
        sys.exit(run_worker(settings, options))  # ctx.exit's status is lost by main()
    if not settings.clickhouse_url:
        raise click.ClickException(
            "--concurrency above 1 needs a ClickHouse server (RUNSTREAM_CLICKHOUSE_URL): the "
            "embedded store has a single owner; `runstream store serve` can be that owner")
    sys.exit(supervise([_one_process(settings.root, options)] * concurrency))


def _one_process(root: Path, options: WorkerOptions) -> list[str]:
    """The command line of one worker process with these options."""
    return [
        sys.executable, "-m", "runstream_processors.cli.main", "--dir", str(root), "worker",
        "--partitions", str(options.partitions), "--batch-size", str(options.batch_size),
        "--batch-wait", str(options.batch_wait_s), "--group", options.group,
        "--dlq-topic", options.dlq_topic,
        "--stats-interval", str(options.stats_interval_s), "--log-level", options.log_level,
    ]
