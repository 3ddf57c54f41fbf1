"""The ClickHouse sink, for a server and for the embedded chdb store alike.

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

from ..errors import StoreRefusedError, StoreUnavailableError, TransientError
from ..kinds import REGISTRY
from ..tables import DEAD_LETTERS
from .base import DeadLetter, WriteResult
from .inserts import ArrowInserts, inserts_for

_LOOKUP_CHUNK = 5_000
Event = tuple[pb.Envelope, bytes]


class ClickHouseSink:
    """Writes batches through one clickhouse-connect client (not thread-safe)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._inserts: ArrowInserts = inserts_for(client)
        self._known_runs: set[str] = set()

    def close(self) -> None:
        self._inserts.close()

    def write(
        self, events: Sequence[Event], source: str, skip: frozenset[str] = frozenset()
    ) -> WriteResult:
        """Store ``events`` (envelope, original bytes); replays are no-ops.

        Tables in ``skip`` already hold these events' rows (a retry of part of a batch the
        store refused). Raises TransientError when the store is unreachable, and
        StoreRefusedError, naming the tables already written, when it refuses the batch.
        """
        written: set[str] = set(skip)
        try:
            fresh, duplicates = self._unseen(events)
            known, refused = self._split_unknown_runs(fresh, source)
            rows = REGISTRY.rows(envelope for envelope, _ in known)
            for table, data in rows.tables().items():
                if table not in written:
                    ids = rows.event_ids[table] or {e.event_id for e, _ in known}
                    self._insert(table, data, ids)
                    written.add(table)
        except TransientError:
            raise
        except Exception as exc:
            raise StoreRefusedError(f"{type(exc).__name__}: {exc}", frozenset(written)) from exc
        return WriteResult(len(known), duplicates, refused)

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        columns: dict[str, list[object]] = {name: [] for name in DEAD_LETTERS.columns}
        for letter in letters:
            for name in columns:
                columns[name].append(getattr(letter, name))
        tokens = {_letter_digest(letter) for letter in letters}
        self._insert(DEAD_LETTERS.name, DEAD_LETTERS.arrow(columns), tokens)

    def _unseen(self, events: Sequence[Event]) -> tuple[list[Event], int]:
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
        self, events: list[Event], source: str
    ) -> tuple[list[Event], list[DeadLetter]]:
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
                continue
            detail = f"run {envelope.run_id} has no run_started event"
            orphans.append(
                DeadLetter(
                    "unknown_run",
                    detail,
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
        self._call(self._inserts.insert, f"runstream.{table}", data, token)

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


def _letter_digest(letter: DeadLetter) -> str:
    """Two letters for the same bytes and reason are one letter, however often replayed."""
    digest = hashlib.sha256(letter.payload)
    digest.update(f"\0{letter.source}\0{letter.reason}\0{letter.detail}".encode())
    return digest.hexdigest()


def _is_connection_error(exc: Exception) -> bool:
    from clickhouse_connect.driver.exceptions import OperationalError

    return isinstance(exc, OperationalError | ConnectionError | TimeoutError)
