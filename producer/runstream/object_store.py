"""Artifacts in an S3-compatible object store (team mode), behind the local content-addressed store.

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

Integrity: every request body is checked by the server (signed ``x-amz-content-sha256`` over
HTTP, ``Content-MD5`` over HTTPS); the bytes sent are hashed on the way out and must match the
digest taken at log time; afterwards the object's size, ``x-amz-meta-sha256`` and ETag (the
MD5, or MD5 of part MD5s for multipart, as S3 defines it) must match. A server whose ETag is
not an MD5 (e.g. SSE-KMS) gets a read-back instead. Readers verify SHA-256 again on download.
Only plain S3 calls are used, so any S3 server works.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from .artifacts import CHUNK_BYTES, LocalArtifactStore, StoredArtifact
from .errors import MissingExtraError, RunstreamError
from .settings import Settings

logger = logging.getLogger("runstream")

PART_BYTES = 32 * 1024 * 1024
"""Multipart part size; files up to this size go in one PUT. ~3 parts in flight bound memory."""
PARALLEL_PARTS = 2
MAX_PARTS = 10_000  # S3's limit per multipart upload
SHA256_METADATA = "sha256"  # stored as x-amz-meta-sha256
UPLOAD_ATTEMPTS = 3
NOT_UPLOADED = "artifacts not uploaded to S3 (kept locally; `runstream artifacts upload` retries)"


class ObjectStoreError(RunstreamError, OSError):
    """The object store failed or refused a request (message names bucket and key)."""


class ArtifactMissingError(ObjectStoreError):
    """The object (or its bucket) does not exist, e.g. its upload has not happened yet."""


class ArtifactIntegrityError(ObjectStoreError):
    """Bytes do not match the recorded SHA-256 or size: never used, always discarded."""


@dataclass(frozen=True)
class S3Config:
    """Where team-mode artifacts go (``RUNSTREAM_S3_*``)."""

    endpoint: str
    """``http(s)://host:port``; a bare ``host:port`` means http."""
    access_key: str | None
    secret_key: str | None
    bucket: str

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Config | None:
        if not settings.s3_endpoint:
            return None
        return cls(
            settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_bucket
        )


def object_key(sha256: str) -> str:
    return f"sha256/{sha256}"


def s3_uri(bucket: str, sha256: str) -> str:
    return f"s3://{bucket}/{object_key(sha256)}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key)."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
        raise ValueError(f"not an s3://bucket/key uri: {uri!r}")
    return parts.netloc, parts.path.lstrip("/")


def expected_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 gives an unencrypted object uploaded in these parts."""
    if len(part_md5s) == 1:
        return part_md5s[0].hex()
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


def part_size_for(size: int) -> int:
    """PART_BYTES, or more when the file would need over 10,000 parts (whole MiBs)."""
    mib = 1024 * 1024
    return max(PART_BYTES, math.ceil(size / MAX_PARTS / mib) * mib)


class _HashingReader:
    """Hands the file to the client while hashing what is actually sent (whole and per part)."""

    def __init__(self, source: BinaryIO, part_size: int) -> None:
        self._source = source
        self._part_size = part_size
        self._left_in_part = part_size
        self._part = hashlib.md5()
        self.sha256 = hashlib.sha256()
        self.part_md5s: list[bytes] = []

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(min(size, self._left_in_part) if size >= 0 else self._left_in_part)
        self.sha256.update(data)
        self._part.update(data)
        self._left_in_part -= len(data)
        if self._left_in_part == 0:
            self._end_part()
        return data

    def finish(self) -> None:
        if self._left_in_part != self._part_size or not self.part_md5s:
            self._end_part()

    def _end_part(self) -> None:
        self.part_md5s.append(self._part.digest())
        self._part = hashlib.md5()
        self._left_in_part = self._part_size


class ObjectStore:
    """One bucket on one S3 server, through the plain-S3 subset of the ``minio`` client."""

    def __init__(self, client: Any, bucket: str, endpoint: str) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint = endpoint
        self._bucket_checked = False

    @classmethod
    def connect(cls, config: S3Config) -> ObjectStore:
        """Builds the client only (no request), so ``init`` never waits on the network."""
        return cls(_minio_client(config), config.bucket, config.endpoint)

    def with_bucket(self, bucket: str) -> ObjectStore:
        return self if bucket == self.bucket else ObjectStore(self.client, bucket, self.endpoint)

    def ensure_bucket(self) -> None:
        if self._bucket_checked:
            return
        with self._translated("create bucket"):
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket)
                except Exception as exc:  # another uploader may have created it meanwhile
                    if getattr(exc, "code", "") not in (
                        "BucketAlreadyOwnedByYou",
                        "BucketAlreadyExists",
                    ):
                        raise
        self._bucket_checked = True

    def stat(self, sha256: str) -> Any | None:
        """The object's HEAD (size, etag, metadata), or None when it does not exist."""
        with self._translated(f"stat {object_key(sha256)}"):
            try:
                return self.client.stat_object(self.bucket, object_key(sha256))
            except Exception as exc:
                if getattr(exc, "code", "") in ("NoSuchKey", "NoSuchObject", "NoSuchBucket"):
                    return None
                raise

    def holds(self, sha256: str, size: int) -> bool:
        """Whether the bucket already has this content (size and recorded digest agree)."""
        found = self.stat(sha256)
        return found is not None and found.size == size and _meta_sha256(found) == sha256

    def upload(self, path: Path, sha256: str, size: int) -> bool:
        """Upload ``path`` as ``sha256/<hex>`` unless already there; True when it uploaded."""
        self.ensure_bucket()
        if self.holds(sha256, size):
            return False
        part_size = part_size_for(size)
        with open(path, "rb") as source, self._translated(f"upload {object_key(sha256)}"):
            reader = _HashingReader(source, part_size)
            self.client.put_object(
                self.bucket,
                object_key(sha256),
                reader,
                size,
                part_size=part_size,
                num_parallel_uploads=PARALLEL_PARTS,
                metadata={SHA256_METADATA: sha256},
            )
        reader.finish()
        self._verify_upload(sha256, size, reader)
        return True

    def chunks(self, sha256: str, key: str | None = None) -> Iterator[bytes]:
        """The object's bytes, streamed (the caller verifies them)."""
        name = key or object_key(sha256)
        with self._translated(f"download {name}"):
            try:
                response = self.client.get_object(self.bucket, name)
            except Exception as exc:
                if getattr(exc, "code", "") in ("NoSuchKey", "NoSuchObject", "NoSuchBucket"):
                    raise ArtifactMissingError(f"{self._where(name)} does not exist") from exc
                raise
            try:
                yield from response.stream(CHUNK_BYTES)
            finally:
                response.close()
                response.release_conn()

    def remove(self, sha256: str) -> None:
        with self._translated(f"remove {object_key(sha256)}"):
            self.client.remove_object(self.bucket, object_key(sha256))

    def _verify_upload(self, sha256: str, size: int, sent: _HashingReader) -> None:
        if sent.sha256.hexdigest() != sha256:
            self.remove(sha256)
            raise ArtifactIntegrityError(
                f"the local copy of {sha256} changed since it was logged (bytes sent hash to "
                f"{sent.sha256.hexdigest()}); the object was removed, the local copy is corrupt"
            )
        found = self.stat(sha256)
        if found is None or found.size != size or _meta_sha256(found) != sha256:
            size_found = getattr(found, "size", None)
            raise ArtifactIntegrityError(
                f"{self._where(object_key(sha256))} is missing or "
                f"wrong after upload (size {size_found}, expected {size})"
            )
        if (found.etag or "").strip('"') != expected_etag(sent.part_md5s):
            self._verify_by_reading(sha256)

    def _verify_by_reading(self, sha256: str) -> None:
        """For servers whose ETag is not an MD5: read the object back and hash it."""
        digest = hashlib.sha256()
        for chunk in self.chunks(sha256):
            digest.update(chunk)
        if digest.hexdigest() != sha256:
            self.remove(sha256)
            raise ArtifactIntegrityError(
                f"{self._where(object_key(sha256))} read back as {digest.hexdigest()}; removed it"
            )

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key} at {self.endpoint}"

    def _translated(self, action: str) -> _Translated:
        return _Translated(f"{action} in s3://{self.bucket} at {self.endpoint}")


class _Translated:
    """Turns client and network errors into ObjectStoreError at this boundary (ours pass)."""

    def __init__(self, action: str) -> None:
        self.action = action

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: object
    ) -> None:
        if error is None or isinstance(error, RunstreamError) or not isinstance(error, Exception):
            return
        code = getattr(error, "code", None)
        detail = f"{code}: {getattr(error, 'message', error)}" if code else str(error)
        raise ObjectStoreError(f"cannot {self.action}: {detail}") from error


def _meta_sha256(found: Any) -> str:
    metadata = found.metadata or {}
    return str(metadata.get(f"x-amz-meta-{SHA256_METADATA}", ""))


def _minio_client(config: S3Config) -> Any:
    """A ``minio.Minio`` with short timeouts and few retries: the uploader has its own."""
    try:
        import certifi
        import urllib3
        from minio import Minio
    except ImportError as exc:
        raise MissingExtraError("minio", "s3") from exc
    endpoint = config.endpoint if "://" in config.endpoint else f"http://{config.endpoint}"
    parts = urlsplit(endpoint)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=10.0, read=120.0),
        maxsize=PARALLEL_PARTS + 2,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=2, backoff_factor=0.5, status_forcelist=[500, 502, 503, 504]),
    )
    return Minio(
        parts.netloc,
        access_key=config.access_key or None,
        secret_key=config.secret_key or None,
        secure=parts.scheme == "https",
        http_client=http,
    )


# -- the upload queue --------------------------------------------------------------------


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
    for sha256, bucket in items:
        try:
            if upload_one(local, store.with_bucket(bucket or config.bucket), pending, sha256):
                report.uploaded += 1
            else:
                report.already_there += 1
        except ObjectStoreError as exc:
            report.failed[sha256] = str(exc)
    return report


class BackgroundUploader:
    """One daemon thread uploading queued digests, with a few retries; see the module docstring."""

    def __init__(
        self,
        local: LocalArtifactStore,
        store: ObjectStore,
        retry_delays: tuple[float, ...] = (1.0, 4.0),
    ) -> None:
        self._local = local
        self._store = store
        self._pending = PendingUploads(local.root)
        self._retry_delays = retry_delays[: UPLOAD_ATTEMPTS - 1]
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._report = UploadReport()
        self._outstanding: set[str] = set()
        self._give_up = threading.Event()
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
        with self._lock:
            return replace(
                self._report, failed=dict(self._report.failed), pending=len(self._outstanding)
            )

    def _loop(self) -> None:
        while (sha256 := self._queue.get()) is not None and not self._give_up.is_set():
            self._upload_with_retries(sha256)

    def _upload_with_retries(self, sha256: str) -> None:
        for delay in (*self._retry_delays, None):
            try:
                uploaded = upload_one(self._local, self._store, self._pending, sha256)
            except ArtifactIntegrityError as exc:  # retrying cannot help
                return self._done(sha256, exc)
            except ObjectStoreError as exc:
                if delay is None or self._give_up.wait(delay):
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


# -- what a run writes artifacts through -------------------------------------------------


class ArtifactSink(Protocol):
    """What ``Run`` and ``init`` store artifacts through (embedded or team mode)."""

    def put(self, source: Path) -> StoredArtifact: ...

    def put_bytes(self, data: bytes) -> StoredArtifact: ...

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

    def close(self, timeout: float) -> dict[str, int]:
        self.report = self.uploader.close(timeout)
        missing = self.report.not_uploaded
        return {NOT_UPLOADED: missing} if missing else {}

    def _ship(self, stored: StoredArtifact) -> StoredArtifact:
        self.uploader.submit(stored.sha256)
        return replace(stored, uri=s3_uri(self.bucket, stored.sha256))


def open_artifact_sink(settings: Settings) -> ArtifactSink:
    """Team mode when ``RUNSTREAM_S3_ENDPOINT`` is set (needs the ``s3`` extra), else local."""
    local = LocalArtifactStore(settings.artifacts_dir)
    config = S3Config.from_settings(settings)
    if config is None:
        return LocalArtifacts(local)
    return UploadingArtifacts(local, ObjectStore.connect(config))
