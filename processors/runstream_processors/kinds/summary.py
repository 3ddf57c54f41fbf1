"""``summary``: entries of ``run.summary``, typed like params; the latest per key wins."""

from __future__ import annotations

from collections.abc import Iterable

from runstream.wire import events_pb2 as pb

from ..tables import FLOAT64, STRING, TIMESTAMP, Table, TableRows
from .base import Kind, event_ids
from .checks import check_keys, typed

SUMMARIES = Table(
    "summaries",
    {
        "project": STRING,
        "run_id": STRING,
        "key": STRING,
        "value_type": STRING,
        "value_number": FLOAT64,
        "value_text": STRING,
        "time": TIMESTAMP,
        "event_id": STRING,
    },
)


def check(envelope: pb.Envelope) -> None:
    check_keys("summary", (entry.key for entry in envelope.summary.entries))


def summary_rows(envelope: pb.Envelope, out: TableRows, entries: Iterable[pb.Param]) -> None:
    """Rows of ``summaries``; shared with ``run_finished``, which carries the final summary."""
    for entry in entries:
        value_type, number, text = typed(entry.value)
        out.row(
            SUMMARIES,
            **event_ids(envelope),
            key=entry.key,
            value_type=value_type,
            value_number=number,
            value_text=text,
            time=envelope.time_unix_nano,
        )


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    summary_rows(envelope, out, envelope.summary.entries)


KIND = Kind(field="summary", check=check, rows=rows, tables=(SUMMARIES,))
