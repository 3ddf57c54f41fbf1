"""Stamp payloads into Envelopes: ids, per-run sequence numbers, time, SDK version."""

from __future__ import annotations

import time
import uuid

from .version import __version__
from .wire import events_pb2 as pb

Payload = (
    pb.RunStarted
    | pb.MetricBatch
    | pb.SystemStats
    | pb.SampleBatch
    | pb.ArtifactLogged
    | pb.DatasetVersion
    | pb.RunFinished
    | pb.Heartbeat
    | pb.SummaryUpdate
)

_FIELD_BY_TYPE: dict[type, str] = {
    pb.RunStarted: "run_started",
    pb.MetricBatch: "metrics",
    pb.SystemStats: "system",
    pb.SampleBatch: "samples",
    pb.ArtifactLogged: "artifact",
    pb.DatasetVersion: "dataset",
    pb.RunFinished: "run_finished",
    pb.Heartbeat: "heartbeat",
    pb.SummaryUpdate: "summary",
}


def new_id() -> str:
    """32 lowercase hex characters: run ids and event ids."""
    return uuid.uuid4().hex


class EnvelopeFactory:
    """Wraps payloads of one run; used from the recorder thread only, so ``seq`` is ordered."""

    def __init__(self, project: str, run_id: str) -> None:
        self.project = project
        self.run_id = run_id
        self._seq = 0

    def wrap(self, payload: Payload) -> pb.Envelope:
        self._seq += 1
        envelope = pb.Envelope(
            event_id=new_id(),
            project=self.project,
            run_id=self.run_id,
            seq=self._seq,
            time_unix_nano=time.time_ns(),
            sdk_version=__version__,
        )
        getattr(envelope, _FIELD_BY_TYPE[type(payload)]).CopyFrom(payload)
        return envelope
