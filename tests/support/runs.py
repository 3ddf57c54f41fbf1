"""Test support: make real runs through the SDK and read them back through the store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import runstream
from runstream.settings import Settings
from runstream_processors.ingest.pending import mark_caught_up
from runstream_processors.ingest.spool import ingest_spool
from runstream_processors.store.connection import open_store


def make_run(
    name: str,
    lr: float,
    steps: int = 50,
    project: str = "tests",
    tags: tuple[str, ...] | list[str] = ("unit",),
    **extra: Any,
) -> str:
    """A small finished run with train/eval curves, samples and a summary; returns its id."""
    with runstream.init(
        project=project,
        name=name,
        config={"lr": lr, "layers": [8, 4], **extra},
        tags=list(tags),
        seed=3,
        system_interval=None,
    ) as run:
        for step in range(steps):
            run.log(
                {"loss": 1.0 / (1 + step * lr), "accuracy": step / steps}, step=step, split="train"
            )
        run.log({"loss": 0.5 / (1 + lr), "accuracy": 0.9 + lr / 10}, step=steps - 1, split="eval")
        run.log_samples(["x0", "x1"], ["1", "2"], ["1", "3"], step=steps - 1, split="eval")
        run.summary["final_accuracy"] = 0.9 + lr / 10
        return run.id


@contextlib.contextmanager
def store(settings: Settings) -> Iterator[Any]:
    """The embedded store with the spool taken in, as the CLI leaves it (marked caught up)."""
    with open_store(settings, "tests") as client:
        ingest_spool(client, settings.local_spool_dir)
        mark_caught_up(client)
        yield client


def scalar(client: Any, sql: str, **parameters: Any) -> Any:
    return client.query(sql, parameters=parameters).result_rows[0][0]


def snapshot(client: Any) -> dict[str, Any]:
    """Everything a user could query, to compare before and after a replay."""
    tables = [
        "metrics",
        "params",
        "packages",
        "samples",
        "artifacts",
        "summaries",
        "runs_started",
        "runs_finished",
        "system",
        "dead_letters",
    ]
    result = {table: scalar(client, f"SELECT count() FROM runstream.{table}") for table in tables}
    result["run_metrics"] = client.query(
        "SELECT run_id, metric, last_step, last_value, max_value, min_value "
        "FROM runstream.run_metrics "
        "ORDER BY run_id, metric"
    ).result_rows
    result["runs"] = client.query(
        "SELECT run_id, name, status FROM runstream.runs ORDER BY run_id"
    ).result_rows
    result["metric_sum"] = scalar(
        client, "SELECT sum(value) FROM runstream.metrics WHERE isFinite(value)"
    )
    return result
