"""``dataset``: a dataset version a run used, its role, where it lay, and its manifest of files
(path relative to the root, size, SHA-256)."""

from __future__ import annotations

import pyarrow as pa
from runstream.limits import MAX_NAME_LENGTH, SHA256_PATTERN
from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import BOOL, STRING, STRINGS, TIMESTAMP, UINT64, Table, TableRows
from .base import Kind, event_ids

DATASETS = Table(
    "datasets",
    {
        "project": STRING,
        "run_id": STRING,
        "name": STRING,
        "version": STRING,
        "role": STRING,
        "root": STRING,
        "stored": BOOL,
        "file_count": UINT64,
        "total_bytes": UINT64,
        "files.path": STRINGS,
        "files.size_bytes": pa.list_(UINT64),
        "files.sha256": STRINGS,
        "time": TIMESTAMP,
        "event_id": STRING,
    },
)


def check(envelope: pb.Envelope) -> None:
    dataset = envelope.dataset
    if not dataset.name or len(dataset.name) > MAX_NAME_LENGTH:
        raise InvalidEventError(
            "invalid_dataset", f"dataset.name must be 1 to {MAX_NAME_LENGTH} characters"
        )
    if not dataset.version:
        raise InvalidEventError("invalid_dataset", f"dataset {dataset.name!r} has no version")
    if len(dataset.role) > MAX_NAME_LENGTH:
        raise InvalidEventError(
            "invalid_dataset",
            f"dataset {dataset.name!r}: role is over {MAX_NAME_LENGTH} characters",
        )
    seen: set[str] = set()
    for file in dataset.files:
        if not file.path:
            raise InvalidEventError(
                "invalid_dataset", f"dataset {dataset.name!r}: a file has no path"
            )
        if file.path.startswith("/") or ".." in file.path.split("/"):
            raise InvalidEventError(
                "invalid_dataset",
                f"dataset {dataset.name!r}: {file.path!r} is not a path inside the dataset",
            )
        if file.path in seen:
            raise InvalidEventError(
                "invalid_dataset", f"dataset {dataset.name!r}: {file.path!r} is listed twice"
            )
        seen.add(file.path)
        if not SHA256_PATTERN.match(file.sha256):
            raise InvalidEventError(
                "invalid_dataset",
                f"dataset {dataset.name!r}: {file.path!r} sha256 is not 64 hex chars",
            )


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    dataset = envelope.dataset
    files = list(dataset.files)
    out.row(
        DATASETS,
        **event_ids(envelope),
        name=dataset.name,
        version=dataset.version,
        role=dataset.role,
        root=dataset.root,
        stored=dataset.stored,
        file_count=len(files),
        total_bytes=sum(f.size_bytes for f in files),
        time=envelope.time_unix_nano,
        **{
            "files.path": [f.path for f in files],
            "files.size_bytes": [f.size_bytes for f in files],
            "files.sha256": [f.sha256 for f in files],
        },
    )


KIND = Kind(field="dataset", check=check, rows=rows, tables=(DATASETS,))
