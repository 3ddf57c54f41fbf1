"""What a run writes artifacts through: the local store alone, or the local store then S3."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Protocol

from ..settings import Settings
from .local import LocalArtifactStore, StoredArtifact
from .s3 import ObjectStore, S3Config, s3_uri
from .uploads import BackgroundUploader, UploadReport

NOT_UPLOADED = "artifacts not uploaded to S3 (kept locally; `runstream artifacts upload` retries)"


class ArtifactSink(Protocol):
    """What ``Run`` and ``init`` store artifacts through (embedded or team mode)."""

    def put(self, source: Path) -> StoredArtifact: ...

    def put_bytes(self, data: bytes) -> StoredArtifact: ...

    def known(self, sha256: str, size: int) -> StoredArtifact | None:
        """The stored content with this digest, if the local store has it already (no copy)."""
        ...

    def close(self, timeout: float) -> dict[str, int]:
        """Finish pending work; returns reasons → counts of what is not where it should be."""
        ...


class LocalArtifacts:
    """Embedded mode: the local CAS is the final home; ``file://`` uris."""

    def __init__(self, local: LocalArtifactStore) -> None:
        self.local = local

    def put(self, source: Path) -> StoredArtifact:
        return self.local.put(source)

    def put_bytes(self, data: bytes) -> StoredArtifact:
        return self.local.put_bytes(data)

    def known(self, sha256: str, size: int) -> StoredArtifact | None:
        return _known(self.local, sha256, size)

    def close(self, timeout: float) -> dict[str, int]:
        return {}


class UploadingArtifacts:
    """Team mode: the local CAS first (durable, quick), then the bucket in the background."""

    def __init__(self, local: LocalArtifactStore, store: ObjectStore) -> None:
        self.local = local
        self.bucket = store.bucket
        self.uploader = BackgroundUploader(local, store)
        self.report: UploadReport | None = None

    def put(self, source: Path) -> StoredArtifact:
        return self._ship(self.local.put(source))

    def put_bytes(self, data: bytes) -> StoredArtifact:
        return self._ship(self.local.put_bytes(data))

    def known(self, sha256: str, size: int) -> StoredArtifact | None:
        stored = _known(self.local, sha256, size)
        return None if stored is None else self._ship(stored)  # the bucket may lack it still

    def close(self, timeout: float) -> dict[str, int]:
        self.report = self.uploader.close(timeout)
        missing = self.report.not_uploaded
        return {NOT_UPLOADED: missing} if missing else {}

    def _ship(self, stored: StoredArtifact) -> StoredArtifact:
        self.uploader.submit(stored.sha256)
        return replace(stored, uri=s3_uri(self.bucket, stored.sha256))


def _known(local: LocalArtifactStore, sha256: str, size: int) -> StoredArtifact | None:
    path = local.path_for(sha256)
    try:
        if path.stat().st_size == size:
            return StoredArtifact(sha256, size, path.as_uri())
    except OSError:
        pass
    return None


def open_artifact_sink(settings: Settings) -> ArtifactSink:
    """Team mode when ``RUNSTREAM_S3_ENDPOINT`` is set (needs the ``s3`` extra), else local."""
    local = LocalArtifactStore(settings.artifacts_dir)
    config = S3Config.from_settings(settings)
    if config is None:
        return LocalArtifacts(local)
    return UploadingArtifacts(local, ObjectStore.connect(config))
