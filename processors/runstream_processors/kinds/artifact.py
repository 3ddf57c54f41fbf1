"""``artifact``: a file stored content-addressed (local or S3); only its pointer travels."""

from __future__ import annotations

from runstream.limits import SHA256_PATTERN
from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import STRING, STRING_MAP, TIMESTAMP, UINT64, Table, TableRows
from .base import Kind, event_ids

ARTIFACTS = Table(
    "artifacts",
    {
        "project": STRING,
        "run_id": STRING,
        "name": STRING,
        "kind": STRING,
        "sha256": STRING,
        "size_bytes": UINT64,
        "uri": STRING,
        "source_path": STRING,
        "metadata": STRING_MAP,
        "time": TIMESTAMP,
        "event_id": STRING,
    },
)


def check(envelope: pb.Envelope) -> None:
    artifact = envelope.artifact
    if not SHA256_PATTERN.match(artifact.sha256):
        raise InvalidEventError(
            "invalid_artifact", f"sha256 {artifact.sha256!r} is not 64 hex chars"
        )
    if not artifact.name or not artifact.uri:
        raise InvalidEventError("invalid_artifact", "an artifact needs a name and a uri")


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    artifact = envelope.artifact
    out.row(
        ARTIFACTS,
        **event_ids(envelope),
        name=artifact.name,
        kind=artifact.kind,
        sha256=artifact.sha256,
        size_bytes=artifact.size_bytes,
        uri=artifact.uri,
        source_path=artifact.source_path,
        metadata=dict(artifact.metadata),
        time=envelope.time_unix_nano,
    )


KIND = Kind(field="artifact", check=check, rows=rows, tables=(ARTIFACTS,))
