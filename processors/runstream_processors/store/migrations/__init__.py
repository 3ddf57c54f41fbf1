"""Versioned schema migrations: ``NNNN_name.sql`` files applied once each, in order.

Applied versions are recorded in ``runstream.schema_migrations``. Statements are
idempotent (``IF NOT EXISTS``) so two processes racing at first start are harmless.
Never edit an applied migration: add the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ...errors import MigrationError

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def available() -> list[Migration]:
    """Every migration shipped with the package, oldest first."""
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], _statements(entry.read_text())))
    return sorted(found, key=lambda migration: migration.version)


def apply_migrations(client: Any) -> list[int]:
    """Bring the schema up to date through a clickhouse-connect client; returns applied versions.

    One query when it is up to date already (every CLI call asks), the full check otherwise.
    Up to date means every shipped version is recorded, not only the newest: a migration
    numbered below one a store already has (branches merged in another order) still runs.
    """
    recorded = _applied(client)
    if recorded is not None and {migration.version for migration in available()} <= recorded:
        return []
    client.command("CREATE DATABASE IF NOT EXISTS runstream")
    client.command(
        "CREATE TABLE IF NOT EXISTS runstream.schema_migrations "
        "(version UInt32, name String, applied_at DateTime64(6, 'UTC') DEFAULT now64(6)) "
        "ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {
        row[0]
        for row in client.query("SELECT version FROM runstream.schema_migrations").result_rows
    }
    applied = []
    for migration in available():
        if migration.version in done:
            continue
        for statement in migration.statements:
            try:
                client.command(statement)
            except Exception as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc
        client.insert(
            "runstream.schema_migrations",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
        )
        applied.append(migration.version)
    return applied


def _applied(client: Any) -> set[int] | None:
    try:
        rows = client.query("SELECT version FROM runstream.schema_migrations").result_rows
    except Exception:  # no database or table yet: a new store
        return None
    return {int(row[0]) for row in rows}


def _statements(sql: str) -> tuple[str, ...]:
    without_comments = "\n".join(
        line for line in sql.splitlines() if not line.lstrip().startswith("--")
    )
    return tuple(part.strip() for part in without_comments.split(";") if part.strip())
