"""Recorded content by SHA-256: from the local store or the object store, always verified."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from runstream.artifacts import LocalArtifactStore, S3Config, s3_uri
from runstream.settings import Settings

from ..cli.artifacts import source_for, write_verified

Row = dict[str, Any]


def content_row(settings: Settings, sha256: str, size: int) -> Row:
    """An artifact-like row for content known by digest only (a dataset file): the local
    store's copy when this machine has it, else the bucket's address."""
    local = LocalArtifactStore(settings.artifacts_dir).path_for(sha256)
    if local.is_file() or S3Config.from_settings(settings) is None:
        uri = local.as_uri()
    else:
        uri = s3_uri(settings.s3_bucket, sha256)
    return {"sha256": sha256, "size_bytes": size, "uri": uri}


def fetch_to(settings: Settings, row: Row, destination: Path) -> str:
    """Write the content of ``row`` (sha256, size_bytes, uri) to ``destination``, verified;
    returns where it came from. Raises ObjectStoreError or ArtifactIntegrityError."""
    with contextlib.ExitStack() as closing:  # an S3 client opened for it is closed
        label, chunks = source_for(settings, row, closing)
        destination.parent.mkdir(parents=True, exist_ok=True)
        write_verified(chunks(), row["sha256"], int(row["size_bytes"]), destination, label)
    return label


def read_bytes(settings: Settings, row: Row) -> bytes:
    """The verified content of a small artifact (a diff, a snapshot, a lock file)."""
    import hashlib

    from runstream.artifacts import ArtifactIntegrityError

    with contextlib.ExitStack() as closing:
        label, chunks = source_for(settings, row, closing)
        data = b"".join(chunks())
    if hashlib.sha256(data).hexdigest() != row["sha256"]:
        raise ArtifactIntegrityError(f"refused {label}: its bytes do not match {row['sha256']}")
    return data
