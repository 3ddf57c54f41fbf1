"""Validate raw event bytes into Envelopes, or say precisely why not.

The envelope's own fields (ids, project, time) are checked here; what a payload must
hold is checked by its kind (``kinds/``). NaN and infinities in metric values are
accepted and flagged downstream: they are often the most important thing a run logged.
Unknown fields from newer producers are ignored by protobuf.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError
from runstream.limits import ID_PATTERN, MAX_ENVELOPE_BYTES, project_problem
from runstream.wire import events_pb2 as pb

from .errors import InvalidEventError
from .kinds import REGISTRY


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
    """Meaning checks on a parsed Envelope: its own fields, then its kind's."""
    if not ID_PATTERN.match(envelope.event_id):
        raise InvalidEventError("invalid_id", f"event_id {envelope.event_id!r} is not 32 hex chars")
    if not ID_PATTERN.match(envelope.run_id):
        raise InvalidEventError("invalid_id", f"run_id {envelope.run_id!r} is not 32 hex chars")
    problem = project_problem(envelope.project)
    if problem:
        raise InvalidEventError("invalid_project", f"project {envelope.project!r}: {problem}")
    if envelope.time_unix_nano <= 0:
        raise InvalidEventError("missing_field", "time_unix_nano is not set")
    REGISTRY.kind_of(envelope).check(envelope)


def envelope_ids(payload: bytes) -> tuple[str, str, str]:
    """(event_id, project, run_id) of bytes that failed validation, as far as they parse."""
    try:
        envelope = pb.Envelope.FromString(payload)
    except Exception:  # any damage: a dead letter without ids is still a dead letter
        return "", "", ""
    return envelope.event_id, envelope.project, envelope.run_id
