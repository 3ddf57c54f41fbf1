"""Store tables as the processors see them: an Arrow schema each, and rows built column-wise.

Each table is declared once, by the event kind that fills it (``kinds/``); the tables
every event feeds (``events_seen``, ``liveness``) and ``dead_letters`` are declared here.
A test compares every declared schema with the migrated table in ``system.columns``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import pyarrow as pa

STRING, INT64, UINT32, UINT64, FLOAT64, BOOL = (
    pa.string(),
    pa.int64(),
    pa.uint32(),
    pa.uint64(),
    pa.float64(),
    pa.bool_(),
)
TIMESTAMP = pa.timestamp("ns", tz="UTC")
STRINGS = pa.list_(pa.string())
STRING_MAP = pa.map_(pa.string(), pa.string())


class ColumnBuilder(Protocol):
    """Rows a kind gathers its own way (whole numpy columns), built into one Arrow table."""

    def build(self) -> pa.Table: ...


Builder = TypeVar("Builder", bound=ColumnBuilder)


@dataclass(frozen=True)
class Table:
    """A table of the ``runstream`` database and the Arrow types of the columns we insert."""

    name: str
    columns: Mapping[str, pa.DataType]

    def arrow(self, columns: Mapping[str, list[object]]) -> pa.Table:
        return pa.table(
            {name: pa.array(values, type=self.columns[name]) for name, values in columns.items()}
        )


EVENTS_SEEN = Table(
    "events_seen",
    {
        "event_id": STRING,
        "project": STRING,
        "run_id": STRING,
        "kind": STRING,
        "seq": UINT64,
        "produced_at": TIMESTAMP,
        "payload_sha256": STRING,
    },
)
"""One row per stored event: the first layer of replay protection, written last.

``payload_sha256`` (hex) is the digest of the envelope's bytes as received: a later event
with the same id and other bytes is a conflicting duplicate, not a replay ('' for rows
stored before the column existed: they match any content)."""

LIVENESS = Table(
    "liveness",
    {
        "project": STRING,
        "run_id": STRING,
        "last_seen": TIMESTAMP,
        "heartbeat_interval_ms": UINT32,
        "last_log": TIMESTAMP,
        "log_calls": UINT64,
        "rank": UINT32,
    },
)
"""Per run (max of each, so replays change nothing): the newest event time, the heartbeat
interval, the newest log() time and the log() call count (0 when an event tells none)."""

DEAD_LETTERS = Table(
    "dead_letters",
    {
        "source": STRING,
        "reason": STRING,
        "detail": STRING,
        "event_id": STRING,
        "project": STRING,
        "run_id": STRING,
        "payload": pa.binary(),
    },
)


class TableRows:
    """Rows for several tables, gathered column by column and turned into Arrow at the end."""

    def __init__(self) -> None:
        self._tables: dict[str, Table] = {}
        self._columns: dict[str, dict[str, list[object]]] = defaultdict(lambda: defaultdict(list))
        self._builders: dict[str, ColumnBuilder] = {}
        self.event_ids: dict[str, set[str]] = defaultdict(set)

    def row(self, table: Table, **values: object) -> None:
        """One row; columns not given are left to the table's defaults."""
        self._tables[table.name] = table
        columns = self._columns[table.name]
        for name, value in values.items():
            columns[name].append(value)
        event_id = values.get("event_id")
        if isinstance(event_id, str):
            self.event_ids[table.name].add(event_id)

    def extend(self, table: Table, event_id: str, count: int, **values: object) -> None:
        """``count`` rows of one event; list values are columns, other values repeat."""
        self._tables[table.name] = table
        columns = self._columns[table.name]
        for name, value in values.items():
            columns[name].extend(value if isinstance(value, list) else [value] * count)
        columns["event_id"].extend([event_id] * count)
        columns["idx"].extend(range(count))
        self.event_ids[table.name].add(event_id)

    def builder(self, table: Table, event_id: str, make: Callable[[], Builder]) -> Builder:
        """The kind's own builder for ``table`` (made on first use) to add ``event_id``'s rows."""
        self._tables[table.name] = table
        self.event_ids[table.name].add(event_id)
        found = self._builders.get(table.name)
        if found is None:
            found = self._builders[table.name] = make()
        return found  # type: ignore[return-value]  # one builder type per table

    def tables(self) -> dict[str, pa.Table]:
        """One Arrow table per store table with rows; ``events_seen`` last, the rest by name."""
        built = {
            name: self._tables[name].arrow(columns)
            for name, columns in self._columns.items()
            if columns
        }
        built.update((name, builder.build()) for name, builder in self._builders.items())
        order = sorted(built, key=lambda name: (name == EVENTS_SEEN.name, name))
        return {name: built[name] for name in order}
