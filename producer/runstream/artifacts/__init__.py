"""Artifacts: a local content-addressed store, and in team mode an S3-compatible bucket behind it.

Two stages, like events (spool first, then Kafka), because ``log_artifact`` must stay quick
and must never lose a file:

1. ``log_artifact`` copies the file into the local CAS and hashes the copy (what it did in
   embedded mode already). That copy is durable and frozen; a marker file under
   ``<artifacts>/uploads/`` records that it still has to reach the bucket.
2. A background thread uploads it to ``s3://<bucket>/sha256/<hex>``, checks it, and removes
   the marker. Content addressing makes the final address known before the upload, so the
   pointer event goes out at once with the ``s3://`` uri and never needs correcting.

Uploading in the training thread would stall a step for as long as the network takes (a 5 GB
checkpoint is minutes over a WAN); the CAS copy costs a local disk copy, which freezing the
content needs anyway. A failed upload keeps the marker: ``finish()`` reports it, and
:func:`upload_pending` (``runstream artifacts upload``, ``runstream sync``) ships it later.

Modules: ``local`` (the CAS), ``s3`` (the bucket, its checks and errors), ``uploads`` (the
markers and the background uploader), ``sinks`` (what ``Run`` writes through).
"""

from __future__ import annotations

from .local import CHUNK_BYTES, LocalArtifactStore, StoredArtifact, sha256_of
from .s3 import (
    ArtifactIntegrityError,
    ArtifactMissingError,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailableError,
    S3Config,
    object_key,
    parse_s3_uri,
    s3_uri,
)
from .sinks import NOT_UPLOADED, ArtifactSink, open_artifact_sink
from .uploads import PendingUploads, UploadReport, upload_pending

__all__ = [
    "CHUNK_BYTES",
    "NOT_UPLOADED",
    "ArtifactIntegrityError",
    "ArtifactMissingError",
    "ArtifactSink",
    "LocalArtifactStore",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectStoreUnavailableError",
    "PendingUploads",
    "S3Config",
    "StoredArtifact",
    "UploadReport",
    "object_key",
    "open_artifact_sink",
    "parse_s3_uri",
    "s3_uri",
    "sha256_of",
    "upload_pending",
]
