"""One bucket on an S3-compatible server: team mode's second stage (see the package docstring).

Integrity: every request body is checked by the server (signed ``x-amz-content-sha256`` over
HTTP, ``Content-MD5`` over HTTPS); the bytes sent are hashed on the way out and must match the
digest taken at log time; afterwards the object's size, ``x-amz-meta-sha256`` and ETag (the
MD5, or MD5 of part MD5s for multipart, as S3 defines it) must match. A server whose ETag is
not an MD5 (e.g. SSE-KMS) gets a read-back instead. Readers verify SHA-256 again on download.
Only plain S3 calls are used, so any S3 server works.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from ..errors import MissingExtraError, RunstreamError, ServiceUnavailableError
from ..settings import Settings, env_value
from .local import CHUNK_BYTES

logger = logging.getLogger("runstream")

PART_BYTES = 32 * 1024 * 1024
"""Multipart part size; files up to this size go in one PUT. ~3 parts in flight bound memory."""
PARALLEL_PARTS = 2
MAX_PARTS = 10_000  # S3's limit per multipart upload
SHA256_METADATA = "sha256"  # stored as x-amz-meta-sha256


class ObjectStoreError(RunstreamError, OSError):
    """The object store failed or refused a request (message names bucket and key)."""


class ArtifactMissingError(ObjectStoreError):
    """The object (or its bucket) does not exist, e.g. its upload has not happened yet."""


class ArtifactIntegrityError(ObjectStoreError):
    """Bytes do not match the recorded SHA-256 or size: never used, always discarded."""


class ObjectStoreUnavailableError(ObjectStoreError, ServiceUnavailableError):
    """The server did not answer, or answered "later" (5xx, SlowDown): worth retrying.

    ``retry_after`` is the server's ``Retry-After`` header when it sent one.
    """


# S3 error codes that mean "not now" rather than "no"
_TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "TooManyRequests",
        "XMinioServerNotInitialized",
    }
)


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

    def close(self) -> None:
        """Close the client's connections now, while the interpreter can still do so.

        ``minio.Minio.__del__`` clears its pool; left to interpreter exit, that prints an
        "Exception ignored ... sys.meta_path is None" traceback. Clearing it here and
        dropping the pool from the client makes that ``__del__`` a no-op. The store (and
        every :meth:`with_bucket` copy) is unusable afterwards.
        """
        http = getattr(self.client, "_http", None)
        if http is None:
            return
        try:
            http.clear()
        except Exception:  # closing must not hide a run's report
            logger.debug("runstream: closing the S3 client failed", exc_info=True)
        with contextlib.suppress(AttributeError):
            del self.client._http

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
        message = f"cannot {self.action}: {detail}"
        if _is_transient(error):
            raise ObjectStoreUnavailableError(message, retry_after=_retry_after(error)) from error
        raise ObjectStoreError(message) from error


def _is_transient(error: BaseException) -> bool:
    """Network trouble, a 5xx or a throttling code: the server may answer later."""
    if isinstance(error, ConnectionError | TimeoutError):
        return True  # refused, reset, timed out (a local disk's OSError is not transient)
    try:
        from minio.error import ServerError
        from urllib3.exceptions import HTTPError
    except ImportError:  # pragma: no cover - the client itself needs both
        return False
    if isinstance(error, HTTPError):  # urllib3: retries exhausted, protocol errors, timeouts
        return True
    if isinstance(error, ServerError):
        return error.status_code >= 500 or error.status_code == 429
    status = getattr(getattr(error, "response", None), "status", None)
    return getattr(error, "code", None) in _TRANSIENT_CODES or (
        isinstance(status, int) and (status >= 500 or status == 429)
    )


def _retry_after(error: BaseException) -> float | None:
    """The seconds of a ``Retry-After`` header in the error's response, if any."""
    headers = getattr(getattr(error, "response", None), "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):  # an HTTP date: leave the timing to the backoff
        return None


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
        ca_certs=env_value("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=2, backoff_factor=0.5, status_forcelist=[500, 502, 503, 504]),
    )
    return Minio(
        parts.netloc,
        access_key=config.access_key or None,
        secret_key=config.secret_key or None,
        secure=parts.scheme == "https",
        http_client=http,
    )
