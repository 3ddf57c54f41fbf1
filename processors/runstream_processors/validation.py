"""Validate raw event bytes into Envelopes, or say precisely why not.

Schema checks (it parses, required fields are there, columns line up) and
meaning checks (ids, keys, sizes, statuses). NaN and infinities in metric values
are accepted and flagged downstream: they are often the most important thing a
run logged. Unknown fields from newer producers are ignored by protobuf.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from google.protobuf.message import DecodeError
from runstream.limits import (
    ID_PATTERN,
    MAX_ENVELOPE_BYTES,
    MAX_NAME_LENGTH,
    MAX_SAMPLES_PER_BATCH,
    SHA256_PATTERN,
    key_problem,
    project_problem,
)
from runstream.wire import events_pb2 as pb

from .errors import InvalidEventError


def parse(payload: bytes) -> pb.Envelope:
    """The Envelope in ``payload`` if it is well-formed and meaningful; else InvalidEventError."""
    if len(payload) > MAX_ENVELOPE_BYTES:
        raise InvalidEventError(
            "oversized", f"{len(payload)} bytes, the limit is {MAX_ENVELOPE_BYTES}"
        )
    try:
        envelope = pb.Envelope.FromString(payload)
    except (DecodeError, ValueError) as exc:
        raise InvalidEventError("malformed", f"not a runstream.v1.Envelope: {exc}") from exc
    check(envelope)
    return envelope


def check(envelope: pb.Envelope) -> None:
    """Meaning checks on a parsed Envelope."""
    if not ID_PATTERN.match(envelope.event_id):
        raise InvalidEventError("invalid_id", f"event_id {envelope.event_id!r} is not 32 hex chars")
    if not ID_PATTERN.match(envelope.run_id):
        raise InvalidEventError("invalid_id", f"run_id {envelope.run_id!r} is not 32 hex chars")
    problem = project_problem(envelope.project)
    if problem:
        raise InvalidEventError("invalid_project", f"project {envelope.project!r}: {problem}")
    if envelope.time_unix_nano <= 0:
        raise InvalidEventError("missing_field", "time_unix_nano is not set")
    kind = envelope.WhichOneof("payload")
    if kind is None:
        raise InvalidEventError("empty_payload", "the envelope carries no payload")
    checker = _CHECKS.get(kind)
    if checker is not None:
        checker(envelope)


def _keys(where: str, keys: Sequence[str]) -> None:
    for key in keys:
        problem = key_problem(key)
        if problem:
            raise InvalidEventError("invalid_key", f"{where} key {key!r}: {problem}")


def _columns(
    where: str, key_count: int, key_index: Sequence[int], *columns: Sequence[object]
) -> None:
    lengths = {len(key_index), *(len(column) for column in columns)}
    if len(lengths) != 1:
        raise InvalidEventError(
            "invalid_columns", f"{where} columns have different lengths {sorted(lengths)}"
        )
    if key_index and max(key_index) >= key_count:
        raise InvalidEventError(
            "invalid_columns", f"{where} key_index points past its {key_count} keys"
        )


def _run_started(envelope: pb.Envelope) -> None:
    started = envelope.run_started
    if not started.name or len(started.name) > MAX_NAME_LENGTH:
        raise InvalidEventError("missing_field", "run_started.name must be 1 to 256 characters")
    _keys("param", [param.key for param in started.params])


def _run_started_continued(envelope: pb.Envelope) -> None:
    _keys("param", [param.key for param in envelope.run_started_continued.params])


def _metrics(envelope: pb.Envelope) -> None:
    batch = envelope.metrics
    _keys("metric", batch.keys)
    sizes = {
        "row_lengths": (batch.row_lengths, 4),
        "steps": (batch.steps, 8),
        "time_unix_nano": (batch.time_unix_nano, 8),
        "key_index": (batch.key_index, 4),
        "values": (batch.values, 8),
    }
    for name, (column, width) in sizes.items():
        if len(column) % width:
            raise InvalidEventError(
                "invalid_columns", f"metrics.{name} is not a whole number of items"
            )
    rows = len(batch.row_lengths) // 4
    if len(batch.steps) // 8 != rows or len(batch.time_unix_nano) // 8 != rows:
        raise InvalidEventError(
            "invalid_columns", "metrics steps/time_unix_nano need one item per row"
        )
    points = len(batch.values) // 8
    if len(batch.key_index) // 4 != points:
        raise InvalidEventError("invalid_columns", "metrics key_index needs one item per value")
    if int(np.frombuffer(batch.row_lengths, dtype="<u4").sum(dtype=np.int64)) != points:
        raise InvalidEventError(
            "invalid_columns", "metrics row_lengths do not add up to the values"
        )
    if points and int(np.frombuffer(batch.key_index, dtype="<u4").max()) >= len(batch.keys):
        raise InvalidEventError(
            "invalid_columns", f"metrics key_index points past its {len(batch.keys)} keys"
        )


def _system(envelope: pb.Envelope) -> None:
    stats = envelope.system
    _keys("system", stats.keys)
    _columns("system", len(stats.keys), stats.key_index, stats.values, stats.time_unix_nano)


def _samples(envelope: pb.Envelope) -> None:
    count = len(envelope.samples.samples)
    if count > MAX_SAMPLES_PER_BATCH:
        raise InvalidEventError(
            "oversized", f"{count} samples in one batch, the limit is {MAX_SAMPLES_PER_BATCH}"
        )


def _artifact(envelope: pb.Envelope) -> None:
    artifact = envelope.artifact
    if not SHA256_PATTERN.match(artifact.sha256):
        raise InvalidEventError(
            "invalid_artifact", f"sha256 {artifact.sha256!r} is not 64 hex chars"
        )
    if not artifact.name or not artifact.uri:
        raise InvalidEventError("invalid_artifact", "an artifact needs a name and a uri")


def _summary(envelope: pb.Envelope) -> None:
    _keys("summary", [entry.key for entry in envelope.summary.entries])


def _run_finished(envelope: pb.Envelope) -> None:
    if envelope.run_finished.status == pb.RUN_STATUS_UNSPECIFIED:
        raise InvalidEventError("invalid_status", "run_finished.status is unspecified")
    _keys("summary", [entry.key for entry in envelope.run_finished.summary])


_CHECKS = {
    "run_started": _run_started,
    "run_started_continued": _run_started_continued,
    "metrics": _metrics,
    "system": _system,
    "samples": _samples,
    "artifact": _artifact,
    "summary": _summary,
    "run_finished": _run_finished,
}
