"""The ClickHouse sink, for a server and for the embedded chdb store alike.

Replays are harmless in three layers: events whose id is already in
``events_seen`` with the same content fingerprint are skipped (the same id with other
bytes is a ``conflicting_duplicate`` dead letter, never silently dropped); each table
insert carries a deduplication token derived from its event ids, so a retried batch is
a no-op; ``events_seen`` is written last, so a crash midway makes the batch retry
rather than vanish.
"""

from __future__ import annotations

import dataclasses
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
DEAD_LETTER_PAYLOAD_LIMIT = 1024 * 1024
"""Bytes of a dead letter's payload the dead_letters table keeps (the rest is cut, and the
original size noted in ``detail``): a letter of any size is one bounded row."""
Event = tuple[pb.Envelope, bytes]


class ClickHouseSink:
    """Writes batches through one clickhouse-connect client (not thread-safe)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._inserts: ArrowInserts = inserts_for(client)
        self._known_runs: set[str] = set()

    @property
    def client(self) -> Any:
        """The clickhouse-connect client it writes through (alerts read and write there too)."""
        return self._client

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
            fresh, duplicates, conflicts = self._unseen(events, source)
            known, refused = self._split_unknown_runs(fresh, source)
            rows = REGISTRY.rows(
                (envelope for envelope, _ in known),
                {envelope.event_id: _fingerprint(payload) for envelope, payload in known},
            )
            for table, data in rows.tables().items():
                if table not in written:
                    ids = rows.event_ids[table] or {e.event_id for e, _ in known}
                    self._insert(table, data, ids)
                    written.add(table)
        except TransientError:
            raise
        except Exception as exc:
            raise StoreRefusedError(f"{type(exc).__name__}: {exc}", frozenset(written)) from exc
        return WriteResult(len(known), duplicates, conflicts + refused)

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        columns: dict[str, list[object]] = {name: [] for name in DEAD_LETTERS.columns}
        tokens = {_letter_digest(letter) for letter in letters}
        for letter in map(_bounded, letters):
            for name in columns:
                columns[name].append(getattr(letter, name))
        self._insert(DEAD_LETTERS.name, DEAD_LETTERS.arrow(columns), tokens)

    def _unseen(
        self, events: Sequence[Event], source: str
    ) -> tuple[list[Event], int, list[DeadLetter]]:
        """Events not stored yet, how many were replays, and the conflicting duplicates.

        A replay has the id and the bytes of a stored event (or of an earlier event of the
        batch); the same id with other bytes is a dead letter. Rows stored before events_seen
        had fingerprints ('') match any bytes.
        """
        ids = list({envelope.event_id for envelope, _ in events})
        stored: dict[str, set[str]] = {}
        for event_id, digest in self._lookup(
            "SELECT event_id, payload_sha256 FROM runstream.events_seen "
            "WHERE event_id IN {ids:Array(String)}",
            ids,
        ):
            stored.setdefault(event_id, set()).add(digest)
        fresh: list[Event] = []
        conflicts: list[DeadLetter] = []
        for envelope, payload in events:
            digest = _fingerprint(payload)
            known = stored.get(envelope.event_id)
            if known is None:
                stored[envelope.event_id] = {digest}
                fresh.append((envelope, payload))
            elif digest not in known and "" not in known:
                detail = (
                    f"event {envelope.event_id} was stored before with other content "
                    f"(sha256 {sorted(known)[0]}, this one {digest})"
                )
                conflicts.append(
                    DeadLetter(
                        "conflicting_duplicate",
                        detail,
                        payload,
                        source,
                        envelope.event_id,
                        envelope.project,
                        envelope.run_id,
                    )
                )
        duplicates = len(events) - len(fresh) - len(conflicts)
        return fresh, duplicates, conflicts

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
        return [row[0] for row in self._lookup(sql, ids)]

    def _lookup(self, sql: str, ids: list[str]) -> list[Sequence[Any]]:
        found: list[Sequence[Any]] = []
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            result = self._call(self._client.query, sql, parameters={"ids": chunk})
            found.extend(result.result_rows)
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


def _bounded(letter: DeadLetter) -> DeadLetter:
    """``letter`` with at most DEAD_LETTER_PAYLOAD_LIMIT bytes of payload."""
    size = len(letter.payload)
    if size <= DEAD_LETTER_PAYLOAD_LIMIT:
        return letter
    note = f" [payload truncated to {DEAD_LETTER_PAYLOAD_LIMIT} of {size} bytes]"
    return dataclasses.replace(
        letter, payload=letter.payload[:DEAD_LETTER_PAYLOAD_LIMIT], detail=letter.detail + note
    )


def _fingerprint(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _letter_digest(letter: DeadLetter) -> str:
    """Two letters for the same bytes and reason are one letter, however often replayed."""
    digest = hashlib.sha256(letter.payload)
    digest.update(f"\0{letter.source}\0{letter.reason}\0{letter.detail}".encode())
    return digest.hexdigest()


def _is_connection_error(exc: Exception) -> bool:
    from clickhouse_connect.driver.exceptions import OperationalError

    return isinstance(exc, OperationalError | ConnectionError | TimeoutError)
