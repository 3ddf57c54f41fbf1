"""The ClickHouse sink, for a server and for the embedded chdb store alike (clickhouse-connect).

Replays are harmless in three layers: events whose id is already in
``events_seen`` are skipped; each table insert carries a deduplication token
derived from its event ids, so a retried batch is a no-op; ``events_seen`` is
written last, so a crash midway makes the batch retry rather than vanish.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from runstream.wire import events_pb2 as pb

from ..errors import StoreUnavailableError, TransientError
from ..rows import TableRows, _arrow
from .base import DeadLetter, WriteResult

_LOOKUP_CHUNK = 5_000


class ClickHouseSink:
    """Writes batches through one clickhouse-connect client (not thread-safe)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._known_runs: set[str] = set()

    def write(self, events: Sequence[tuple[pb.Envelope, bytes]], source: str) -> WriteResult:
        fresh, duplicates = self._unseen(events)
        known, orphans = self._split_unknown_runs(fresh, source)
        rows = TableRows()
        rows.add(envelope for envelope, _ in known)
        for table, data in rows.tables().items():
            self._insert(table, data, rows.event_ids[table] or {e.event_id for e, _ in known})
        if orphans:
            self.write_dead_letters(orphans)
        return WriteResult(len(known), duplicates, orphans)

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        columns: dict[str, list[object]] = {
            name: []
            for name in ("source", "reason", "detail", "event_id", "project", "run_id", "payload")
        }
        for letter in letters:
            for name in columns:
                columns[name].append(getattr(letter, name))
        token_source = (hashlib.sha256(letter.payload).hexdigest() for letter in letters)
        self._insert("dead_letters", _arrow("dead_letters", columns), set(token_source))

    def _unseen(
        self, events: Sequence[tuple[pb.Envelope, bytes]]
    ) -> tuple[list[tuple[pb.Envelope, bytes]], int]:
        ids = list({envelope.event_id for envelope, _ in events})
        seen = self._existing(
            "SELECT event_id FROM runstream.events_seen WHERE event_id IN {ids:Array(String)}", ids
        )
        fresh, taken = [], set(seen)
        for envelope, payload in events:
            if envelope.event_id not in taken:
                taken.add(envelope.event_id)
                fresh.append((envelope, payload))
        return fresh, len(events) - len(fresh)

    def _split_unknown_runs(
        self, events: list[tuple[pb.Envelope, bytes]], source: str
    ) -> tuple[list[tuple[pb.Envelope, bytes]], list[DeadLetter]]:
        """Events of runs that never started are dead letters, not rows nobody can join."""
        starting = {e.run_id for e, _ in events if e.HasField("run_started")}
        asked = list({e.run_id for e, _ in events} - starting - self._known_runs)
        self._known_runs |= starting | set(
            self._existing(
                "SELECT DISTINCT run_id FROM runstream.runs_started "
                "WHERE run_id IN {ids:Array(String)}",
                asked,
            )
        )
        known, orphans = [], []
        for envelope, payload in events:
            if envelope.run_id in self._known_runs:
                known.append((envelope, payload))
            else:
                orphans.append(
                    DeadLetter(
                        "unknown_run",
                        f"run {envelope.run_id} has no run_started event",
                        payload,
                        source,
                        envelope.event_id,
                        envelope.project,
                        envelope.run_id,
                    )
                )
        return known, orphans

    def _existing(self, sql: str, ids: list[str]) -> Iterable[str]:
        found: list[str] = []
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            result = self._call(self._client.query, sql, parameters={"ids": chunk})
            found.extend(row[0] for row in result.result_rows)
        return found

    def _insert(self, table: str, data: Any, event_ids: set[str]) -> None:
        token = hashlib.sha256(f"{table}:{','.join(sorted(event_ids))}".encode()).hexdigest()
        self._call(
            self._client.insert_arrow,
            f"runstream.{table}",
            data,
            settings={
                "insert_deduplication_token": token,
                "insert_deduplicate": 1,
                # Every sort key ends in (event_id, idx): no two rows of a batch can replace
                # each other, so the per-insert merge is pure cost (~40% of insert time).
                "optimize_on_insert": 0,
            },
        )

    @staticmethod
    def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except TransientError:
            raise
        except Exception as exc:
            if _is_connection_error(exc):
                raise StoreUnavailableError(f"the store did not answer: {exc}") from exc
            raise


def _is_connection_error(exc: Exception) -> bool:
    from clickhouse_connect.driver.exceptions import OperationalError

    return isinstance(exc, OperationalError | ConnectionError | TimeoutError)
