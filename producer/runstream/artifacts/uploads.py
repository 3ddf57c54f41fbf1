"""The upload queue: pending-upload markers, one-off passes and the background uploader."""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..backoff import Backoff
from ..errors import StopRequested, TransientError
from ..settings import Settings
from .local import LocalArtifactStore
from .s3 import ObjectStore, ObjectStoreError, S3Config

logger = logging.getLogger("runstream")

UPLOAD_ATTEMPTS = 3
"""Attempts per file while the run lasts; markers keep the rest for ``runstream sync``."""


@dataclass
class UploadReport:
    """What an upload pass did; ``failed`` maps digest → last error."""

    uploaded: int = 0
    already_there: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    pending: int = 0
    """Still queued when the caller stopped waiting (their markers remain)."""

    @property
    def not_uploaded(self) -> int:
        return len(self.failed) + self.pending


class PendingUploads:
    """Marker files ``<artifacts>/uploads/<sha256>`` naming the target bucket; survive crashes."""

    def __init__(self, artifacts_root: Path) -> None:
        self.directory = artifacts_root / "uploads"

    def add(self, sha256: str, bucket: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        staged = self.directory / f".{sha256}.{os.getpid()}.{threading.get_ident()}"
        staged.write_text(bucket)
        os.replace(staged, self.directory / sha256)

    def remove(self, sha256: str) -> None:
        (self.directory / sha256).unlink(missing_ok=True)

    def items(self) -> list[tuple[str, str]]:
        """(digest, bucket) of every pending upload."""
        if not self.directory.is_dir():
            return []
        return [
            (path.name, path.read_text().strip())
            for path in sorted(self.directory.iterdir())
            if len(path.name) == 64 and not path.name.startswith(".")
        ]


def upload_one(
    local: LocalArtifactStore, store: ObjectStore, pending: PendingUploads, sha256: str
) -> bool:
    """Upload one CAS file and clear its marker; True if it uploaded, False if already there."""
    path = local.path_for(sha256)
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ObjectStoreError(
            f"artifact {sha256} is no longer in the local store {local.root}"
        ) from exc
    uploaded = store.upload(path, sha256, size)
    pending.remove(sha256)
    return uploaded


def upload_pending(settings: Settings) -> UploadReport:
    """Ship every pending upload of this machine's local store now (``runstream sync``)."""
    config = S3Config.from_settings(settings)
    pending = PendingUploads(settings.artifacts_dir)
    report = UploadReport()
    items = pending.items()
    if not items:
        return report
    if config is None:
        report.failed = {sha: "RUNSTREAM_S3_ENDPOINT is not set" for sha, _ in items}
        return report
    store, local = ObjectStore.connect(config), LocalArtifactStore(settings.artifacts_dir)
    try:
        _upload_all(store, local, pending, items, config.bucket, report)
    finally:
        store.close()
    return report


def _upload_all(
    store: ObjectStore,
    local: LocalArtifactStore,
    pending: PendingUploads,
    items: list[tuple[str, str]],
    default_bucket: str,
    report: UploadReport,
) -> None:
    for sha256, bucket in items:
        try:
            if upload_one(local, store.with_bucket(bucket or default_bucket), pending, sha256):
                report.uploaded += 1
            else:
                report.already_there += 1
        except ObjectStoreError as exc:
            report.failed[sha256] = str(exc)


class BackgroundUploader:
    """One daemon thread uploading queued digests, with a few retries; see the package docstring.

    Only a :class:`~runstream.errors.TransientError` (the server did not answer, or said
    "later") is retried, after ``runstream.backoff.Backoff``'s wait (about 1 s, then 4 s, or
    the server's ``Retry-After``); ``close`` running out of time ends a wait at once.
    """

    def __init__(
        self,
        local: LocalArtifactStore,
        store: ObjectStore,
        first_retry_s: float = 1.0,
        max_retry_s: float = 4.0,
    ) -> None:
        self._local = local
        self._store = store
        self._pending = PendingUploads(local.root)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._report = UploadReport()
        self._outstanding: set[str] = set()
        self._give_up = threading.Event()
        self._backoff = Backoff(self._give_up, first_s=first_retry_s, max_s=max_retry_s, factor=4.0)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, sha256: str) -> None:
        """Record the upload durably (marker), then queue it; returns at once."""
        self._pending.add(sha256, self._store.bucket)
        with self._lock:
            self._outstanding.add(sha256)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="runstream-artifact-upload", daemon=True
                )
                self._thread.start()
        self._queue.put(sha256)

    def close(self, timeout: float) -> UploadReport:
        """Wait up to ``timeout`` s for queued uploads; the rest stay pending (markers kept)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
            if thread.is_alive():
                self._give_up.set()
        if thread is None or not thread.is_alive():
            self._store.close()  # no upload left to use it: close it before exit does
        with self._lock:
            return replace(
                self._report, failed=dict(self._report.failed), pending=len(self._outstanding)
            )

    def _loop(self) -> None:
        while (sha256 := self._queue.get()) is not None and not self._give_up.is_set():
            self._upload_with_retries(sha256)

    def _upload_with_retries(self, sha256: str) -> None:
        self._backoff.reset()
        while True:
            try:
                uploaded = upload_one(self._local, self._store, self._pending, sha256)
            except TransientError as exc:
                if self._backoff.attempts + 1 >= UPLOAD_ATTEMPTS:
                    return self._done(sha256, exc)
                try:
                    self._backoff.wait(exc)
                except StopRequested:  # close() stopped waiting: the marker stays
                    return self._done(sha256, exc)
            except ObjectStoreError as exc:  # refused, missing local copy, integrity: final
                return self._done(sha256, exc)
            else:
                return self._done(sha256, None, uploaded)

    def _done(self, sha256: str, error: Exception | None, uploaded: bool = False) -> None:
        with self._lock:
            self._outstanding.discard(sha256)
            if error is not None:
                self._report.failed[sha256] = str(error)
            elif uploaded:
                self._report.uploaded += 1
            else:
                self._report.already_there += 1
        if error is not None:
            logger.warning(
                "runstream: artifact %s not uploaded, kept in %s: %s",
                sha256[:12],
                self._local.root,
                error,
            )
