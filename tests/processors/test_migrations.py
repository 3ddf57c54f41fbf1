from __future__ import annotations

import re
from pathlib import Path

from runstream.settings import Settings
from runstream_processors.store.connection import embedded_dsn, get_client
from runstream_processors.store.migrations import apply_migrations, available

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "processors" / "runstream_processors" / "store" / "migrations"


def test_migrations_are_numbered_without_gaps() -> None:
    versions = [migration.version for migration in available()]
    assert versions == list(range(1, len(versions) + 1))


def test_migrations_apply_once_and_are_recorded(runstream_dir: Settings) -> None:
    client = get_client(embedded_dsn(runstream_dir))
    try:
        first = apply_migrations(client)
        second = apply_migrations(client)
        recorded = client.query("SELECT version FROM runstream.schema_migrations ORDER BY version")
        tables = {row[0] for row in client.query("SHOW TABLES FROM runstream").result_rows}
    finally:
        client.close()
    assert first == [migration.version for migration in available()]
    assert second == []
    assert [row[0] for row in recorded.result_rows] == first
    assert {"metrics", "params", "runs", "run_metrics", "dead_letters", "events_seen"} <= tables


def test_the_readme_names_every_table_and_view_the_migrations_create() -> None:
    readme = (REPO / "README.md").read_text()
    created = {
        name
        for migration in sorted(MIGRATIONS.glob("*.sql"))
        for name in re.findall(
            r"CREATE (?:TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS runstream\.(\w+)",
            migration.read_text(),
        )
    }
    assert len(created) > 10
    assert sorted(name for name in created if f"`{name}`" not in readme) == []


def test_the_cheaper_metric_latest_answers_as_the_first_one_did(runstream_dir: Settings) -> None:
    """0003 rebuilt metric_latest: run_metrics must not change, whether its rows come from
    the backfill of an older store or from the new materialized view."""
    import datetime
    import math

    import numpy as np

    rng = np.random.default_rng(0)
    points = []
    for run in ("a" * 32, "b" * 32):
        for key in ("loss", "acc", "all_nan"):
            for step in range(50):
                for again in range(2):  # the same step twice: the later time wins
                    value = float("nan") if key == "all_nan" else float(rng.normal())
                    value = float("inf") if (key, step) == ("loss", 7) else value
                    time = datetime.datetime.fromtimestamp(1.7e9 + step + again / 10, datetime.UTC)
                    split = "train" if step % 2 else ""
                    points.append(["p", run, key, split, step, value, time, "e" * 32, len(points)])
    columns = ["project", "run_id", "key", "split", "step", "value", "time", "event_id", "idx"]
    query = (
        "SELECT run_id, metric, last_step, last_value, max_value, min_value, step_of_max, "
        "step_of_min, has_nonfinite FROM runstream.run_metrics ORDER BY run_id, metric"
    )
    client = get_client(embedded_dsn(runstream_dir))

    def migrate(first: int, last: int) -> None:
        client.command("CREATE DATABASE IF NOT EXISTS runstream")
        for migration in available():
            if first <= migration.version <= last:
                for statement in migration.statements:
                    client.command(statement)

    def insert() -> None:
        client.insert("runstream.metrics", points[:200], column_names=columns)
        client.insert("runstream.metrics", points[200:], column_names=columns)

    try:
        migrate(1, 2)
        insert()
        before = client.query(query).result_rows
        migrate(3, 3)
        backfilled = client.query(query).result_rows
        client.command("DROP DATABASE runstream SYNC")
        migrate(1, 3)
        insert()
        viewed = client.query(query).result_rows
    finally:
        client.close()

    def same(a: object, b: object) -> bool:
        return a == b or (
            isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        )

    assert len(before) == 12
    for rows in (backfilled, viewed):
        assert len(rows) == len(before)
        for old, new in zip(before, rows, strict=True):
            assert all(same(a, b) for a, b in zip(old, new, strict=True)), (old, new)


def test_a_migration_numbered_below_the_newest_applied_one_still_runs(
    runstream_dir: Settings,
) -> None:
    """Branches merge in any order: a store may hold 9 before 8 ships."""
    client = get_client(embedded_dsn(runstream_dir))
    try:
        apply_migrations(client)
        below = available()[-2].version
        client.command(
            "ALTER TABLE runstream.schema_migrations DELETE WHERE version = {v:UInt32}",
            parameters={"v": below},
            settings={"mutations_sync": 2},
        )
        again = apply_migrations(client)
    finally:
        client.close()
    assert again == [below]
