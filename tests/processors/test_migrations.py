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
