"""``run_finished``: the run's final status, summary and what the SDK could not record."""

from __future__ import annotations

import pyarrow as pa
from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import STRING, TIMESTAMP, UINT32, UINT64, Table, TableRows
from .base import Kind, event_ids
from .checks import check_keys
from .summary import summary_rows

RUNS_FINISHED = Table(
    "runs_finished",
    {
        "project": STRING,
        "run_id": STRING,
        "status": STRING,
        "end_time": TIMESTAMP,
        "not_recorded": pa.map_(STRING, UINT64),
        "nonfinite_values": UINT64,
        "event_id": STRING,
        "rank": UINT32,
    },
)
STATUS_NAMES = {
    pb.RUN_STATUS_FINISHED: "finished",
    pb.RUN_STATUS_FAILED: "failed",
    pb.RUN_STATUS_KILLED: "killed",
    pb.RUN_STATUS_PRUNED: "pruned",
}
"""The statuses a run can end with; anything else is refused, never stored."""


def check(envelope: pb.Envelope) -> None:
    status = envelope.run_finished.status
    if status not in STATUS_NAMES:
        raise InvalidEventError(
            "invalid_status", f"run_finished.status {status} is not one of {sorted(STATUS_NAMES)}"
        )
    check_keys("summary", (entry.key for entry in envelope.run_finished.summary))


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    finished = envelope.run_finished
    out.row(
        RUNS_FINISHED,
        **event_ids(envelope),
        status=STATUS_NAMES[finished.status],
        end_time=envelope.time_unix_nano,
        not_recorded=dict(finished.not_recorded),
        nonfinite_values=finished.nonfinite_values,
        rank=envelope.rank,
    )
    summary_rows(envelope, out, finished.summary)


KIND = Kind(field="run_finished", check=check, rows=rows, tables=(RUNS_FINISHED,))
