"""Arrow tables into the store: over HTTP to a server, or straight into the embedded engine.

clickhouse-connect's chdb backend serializes an insert to a temporary file and reads it
back (``FROM INFILE``), which costs more than the engine's insert itself. In-process,
``INSERT … SELECT FROM Python(table)`` lets the engine read the Arrow buffers directly;
both paths carry the same deduplication token and settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pyarrow as pa

INSERT_SETTINGS: Mapping[str, object] = {
    "insert_deduplicate": 1,
    # Every sort key ends in (event_id, idx): no two rows of a batch can replace each
    # other, so the per-insert merge is pure cost (~40% of insert time).
    "optimize_on_insert": 0,
}


class ArrowInserts(Protocol):
    def insert(self, table: str, data: pa.Table, token: str) -> None: ...

    def close(self) -> None: ...


class ClientInserts:
    """``insert_arrow`` through a clickhouse-connect client (a ClickHouse or runstream server)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def insert(self, table: str, data: pa.Table, token: str) -> None:
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        self._client.insert_arrow(table, data, settings=settings)

    def close(self) -> None:
        """The client belongs to the caller."""


class EmbeddedInserts:
    """Inserts on a chdb connection of its own to the client's store (same engine session)."""

    def __init__(self, path: str) -> None:
        import chdb

        self._connection: Any = chdb.connect(path)

    def insert(self, table: str, data: pa.Table, token: str) -> None:
        columns = ", ".join(f"`{name}`" for name in data.column_names)
        settings = {
            **INSERT_SETTINGS,
            "insert_deduplication_token": token,
            "deduplicate_insert_select": "enable_even_for_bad_queries",
        }
        clause = ", ".join(f"{name} = {_literal(value)}" for name, value in settings.items())
        # Python(data) names the local variable: the engine reads its Arrow buffers in place.
        self._connection.query(
            f"INSERT INTO {table} ({columns}) SELECT * FROM Python(data) SETTINGS {clause}"
        )

    def close(self) -> None:
        self._connection.close()


def inserts_for(client: Any) -> ArrowInserts:
    """Embedded inserts for a clickhouse-connect client on a chdb store, else the client's own."""
    if str(getattr(client, "uri", "")).startswith("chdb:"):
        return EmbeddedInserts(str(client.path))
    return ClientInserts(client)


def _literal(value: object) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "\\'") + "'"
