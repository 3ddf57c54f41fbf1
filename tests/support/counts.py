"""Exact counts for the fault suite: what landed per table, what landed twice, what was sent.

Every fault scenario ends the same way: the rows each table holds equal the rows the sent
events route to (computed by the processors' own row routing, so a table nobody thought of
is still counted), no row is there twice, and the dead letters are exactly the ones the
scenario caused, by reason. ``client`` is anything with ``query(sql).result_rows``: the
embedded store (``support.runs.store``) or a ``clickhouse_connect`` client of a server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runstream.spool import Checkpoint, SpoolReader
from runstream.wire import events_pb2 as pb
from runstream_processors.kinds import REGISTRY

TABLES = (
    "runs_started",
    "params",
    "packages",
    "metrics",
    "system",
    "samples",
    "artifacts",
    "datasets",
    "summaries",
    "runs_finished",
    "events_seen",
)
"""The tables an event's rows land in (liveness aggregates, so it is not counted)."""

_ROW_KEYS = {"metrics": "event_id, idx", "system": "event_id, idx", "samples": "event_id, idx"}
"""What tells two rows of one event apart, where an event has many rows; elsewhere a row is
a duplicate when every column is the same (events_seen: one row per event_id)."""


def table_counts(client: Any, where: str = "") -> dict[str, int]:
    """Rows per table (``where``: an SQL condition, e.g. ``"run_id = 'abc'"``)."""
    condition = f" WHERE {where}" if where else ""
    return {
        table: int(
            client.query(f"SELECT count() FROM runstream.{table}{condition}").result_rows[0][0]
        )
        for table in TABLES
    }


def duplicated_rows(client: Any) -> dict[str, int]:
    """Rows a query sees more than once, per table: all zero when every replay was harmless.

    Run against a store whose merges are stopped (``Pipeline.stop_merges``) or that was
    just written: a ReplacingMergeTree merge would hide a duplicate.
    """
    duplicated = {}
    for table in TABLES:
        key = "event_id" if table == "events_seen" else _ROW_KEYS.get(table, "*")
        sql = (
            f"SELECT count() - (SELECT count() FROM (SELECT DISTINCT {key} "
            f"FROM runstream.{table})) FROM runstream.{table}"
        )
        duplicated[table] = int(client.query(sql).result_rows[0][0])
    return duplicated


def dead_letters(client: Any) -> dict[str, int]:
    """Dead letters by reason (``{}`` when there are none)."""
    rows = client.query(
        "SELECT reason, count() FROM runstream.dead_letters GROUP BY reason"
    ).result_rows
    return {str(reason): int(count) for reason, count in rows}


def expected_counts(envelopes: Iterable[pb.Envelope]) -> dict[str, int]:
    """Rows per table that ``envelopes`` (valid, each event once) must leave in the store."""
    unique = list({envelope.event_id: envelope for envelope in envelopes}.values())
    built = REGISTRY.rows(unique).tables()
    return {table: built[table].num_rows if table in built else 0 for table in TABLES}


def spooled(spool_dir: Path) -> list[pb.Envelope]:
    """Every envelope a spool holds (taken in or not), in spool order: what was sent."""
    reader = SpoolReader(spool_dir)
    checkpoint = Checkpoint(spool_dir / "checkpoints" / "tests-counts-unsaved.json")
    envelopes: list[pb.Envelope] = []
    while True:
        result = reader.read(checkpoint)
        if not result.records and not result.damage:
            return envelopes
        envelopes.extend(pb.Envelope.FromString(record.payload) for record in result.records)
        checkpoint.advance(result.records)
        checkpoint.skip(result.damage)


def assert_exactly_once(
    client: Any,
    sent: Iterable[pb.Envelope],
    letters: dict[str, int] | None = None,
) -> dict[str, int]:
    """Sent = landed, per table; 0 duplicates; dead letters exactly ``letters`` by reason.

    Returns the counts, for the scenario's own assertions (e.g. against finish()'s report).
    """
    expected = expected_counts(sent)
    landed = table_counts(client)
    assert landed == expected, _differences(landed, expected)
    assert duplicated_rows(client) == dict.fromkeys(TABLES, 0)
    assert dead_letters(client) == (letters or {})
    return landed


def kinds_sent(envelopes: Iterable[pb.Envelope]) -> Counter[str]:
    """How many envelopes of each payload kind, e.g. ``{"metrics": 3, "heartbeat": 2}``."""
    return Counter(envelope.WhichOneof("payload") or "" for envelope in envelopes)


def _differences(landed: dict[str, int], expected: dict[str, int]) -> str:
    wrong = {t: (landed[t], expected[t]) for t in TABLES if landed[t] != expected[t]}
    return f"landed != sent per table, (landed, sent): {wrong}"
