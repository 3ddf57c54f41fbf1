"""Team-mode artifacts: the local CAS first, then a real S3 server (never a mock).

The ``services`` tests talk to the server of the ``s3_endpoint`` fixture (environment, Docker,
or ``deploy/local/services.sh``). The unit tests cover the pieces whose mistakes the server
would not show: part hashing, the ETag arithmetic and the pending-upload markers.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import runstream
from real_services import S3Endpoint
from runstream.artifacts import (
    NOT_UPLOADED,
    ArtifactIntegrityError,
    LocalArtifactStore,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailableError,
    PendingUploads,
    S3Config,
    object_key,
    parse_s3_uri,
    s3_uri,
    upload_pending,
)
from runstream.artifacts.s3 import (
    PART_BYTES,
    _HashingReader,
    _Translated,
    expected_etag,
    part_size_for,
)
from runstream.errors import TransientError
from runstream.settings import Settings, load_settings

MIB = 1024 * 1024


# -- fixtures ------------------------------------------------------------------------------


def s3_env(monkeypatch: pytest.MonkeyPatch, endpoint: str, s3: S3Endpoint) -> None:
    monkeypatch.setenv("RUNSTREAM_S3_ENDPOINT", endpoint)
    monkeypatch.setenv("RUNSTREAM_S3_ACCESS_KEY", s3.access_key)
    monkeypatch.setenv("RUNSTREAM_S3_SECRET_KEY", s3.secret_key)
    monkeypatch.setenv("RUNSTREAM_S3_BUCKET", s3.bucket)


@pytest.fixture
def team(
    runstream_dir: Settings, s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Embedded store and spool, artifacts to the real S3 server (no Kafka needed)."""
    s3_env(monkeypatch, s3_endpoint.url, s3_endpoint)
    return load_settings(runstream_dir.root)


@pytest.fixture
def bucket(s3_endpoint: S3Endpoint) -> Any:
    """A plain ``minio`` client on the test bucket, to look behind the SDK's back."""
    from minio import Minio

    return Minio(
        s3_endpoint.netloc,
        access_key=s3_endpoint.access_key,
        secret_key=s3_endpoint.secret_key,
        secure=s3_endpoint.secure,
    )


def object_store(settings: Settings) -> ObjectStore:
    config = S3Config.from_settings(settings)
    assert config is not None
    return ObjectStore.connect(config)


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MIB))
            out.write(chunk)
            left -= len(chunk)
    return path


def closed_port() -> int:
    """A local port nothing listens on: a real, refusing endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(name: str) -> runstream.Run:
    return runstream.init(
        project="artifacts", name=name, system_interval=None, capture_code=False, capture_env=False
    )


# -- unit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 5, 5 * MIB, 5 * MIB + 1, 15 * MIB + 7])
def test_hashing_reader_sees_the_parts_the_client_sends(size: int) -> None:
    data = os.urandom(size)
    part = 5 * MIB
    reader = _HashingReader(io.BytesIO(data), part)
    sent = b""
    while piece := reader.read(3 * MIB):  # shorter reads than a part, like the client's
        sent += piece
    reader.finish()
    assert sent == data and reader.sha256.hexdigest() == hashlib.sha256(data).hexdigest()
    parts = [data[i : i + part] for i in range(0, size, part)] or [b""]
    assert reader.part_md5s == [hashlib.md5(chunk).digest() for chunk in parts]


def test_etag_arithmetic() -> None:
    one = hashlib.md5(b"a").digest()
    assert expected_etag([one]) == one.hex()
    assert expected_etag([one, one]) == hashlib.md5(one + one).hexdigest() + "-2"


def test_part_size_grows_past_ten_thousand_parts() -> None:
    assert part_size_for(70 * MIB) == PART_BYTES
    assert part_size_for(1024 * 1024 * MIB) * 10_000 >= 1024 * 1024 * MIB


def test_uris() -> None:
    digest = "ab" * 32
    assert s3_uri("b", digest) == f"s3://b/sha256/{digest}"
    assert parse_s3_uri(s3_uri("b", digest)) == ("b", object_key(digest))
    with pytest.raises(ValueError):
        parse_s3_uri("file:///tmp/x")


def test_pending_markers_survive_and_clear(tmp_path: Path) -> None:
    pending = PendingUploads(tmp_path)
    pending.add("a" * 64, "bucket-one")
    assert PendingUploads(tmp_path).items() == [("a" * 64, "bucket-one")]
    pending.remove("a" * 64)
    assert pending.items() == []


def test_missing_minio_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_minio(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "minio":
            raise ImportError("No module named 'minio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_minio)
    with pytest.raises(runstream.MissingExtraError, match=r"runstream\[s3\]"):
        ObjectStore.connect(S3Config("http://127.0.0.1:1", "k", "s", "b"))


class _Response:
    """What minio's S3Error keeps of the HTTP response: status and headers."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers


def _translate(error: Exception) -> ObjectStoreError:
    with pytest.raises(ObjectStoreError) as raised, _Translated("stat sha256/x in s3://b"):
        raise error
    return raised.value


def test_errors_that_mean_later_are_transient_and_carry_retry_after() -> None:
    from minio.error import S3Error, ServerError
    from urllib3.exceptions import MaxRetryError

    def s3_error(code: str, status: int, headers: dict[str, str]) -> S3Error:
        return S3Error(_Response(status, headers), code, "msg", "/b/x", "req", "host")  # type: ignore[arg-type]

    slow = _translate(s3_error("SlowDown", 503, {"Retry-After": "7"}))
    assert isinstance(slow, ObjectStoreUnavailableError) and slow.retry_after == 7.0
    assert "SlowDown" in str(slow)
    for transient in (
        ServerError("bad gateway", 502),
        MaxRetryError(None, "/b/x", "connection refused"),  # type: ignore[arg-type]
        ConnectionRefusedError("refused"),
        s3_error("InternalError", 500, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
    ):
        error = _translate(transient)
        assert isinstance(error, TransientError) and error.retry_after is None, transient
    for final in (s3_error("AccessDenied", 403, {}), ServerError("not found", 404)):
        error = _translate(final)
        assert not isinstance(error, TransientError), final


def test_an_unreachable_server_is_a_transient_error() -> None:
    store = ObjectStore.connect(S3Config(f"http://127.0.0.1:{closed_port()}", "k", "s", "a-bucket"))
    with pytest.raises(ObjectStoreUnavailableError, match="cannot stat"):
        store.stat("ab" * 32)


def test_embedded_mode_keeps_file_uris(runstream_dir: Settings, tmp_path: Path) -> None:
    source = random_file(tmp_path / "weights.bin", 1000)
    with start("embedded") as run:
        digest = run.log_artifact(source)
    stored = LocalArtifactStore(runstream_dir.artifacts_dir).path_for(digest)
    assert stored.read_bytes() == source.read_bytes()
    assert not PendingUploads(runstream_dir.artifacts_dir).items()
    assert run.report is not None and run.report.complete


# -- against the real server ---------------------------------------------------------------


@pytest.mark.services
def test_large_artifact_is_uploaded_in_parts_and_checked(
    team: Settings, tmp_path: Path, bucket: Any
) -> None:
    source = random_file(tmp_path / "model.bin", 70 * MIB + 123)  # 3 parts of 32 MiB
    with start("large") as run:
        began = time.perf_counter()
        digest = run.log_artifact(source, kind="checkpoint")
        logged_in = time.perf_counter() - began
    assert run.report is not None and run.report.complete, run.report
    assert logged_in < 5.0  # a local copy and hash, not the upload
    found = bucket.stat_object(team.s3_bucket, object_key(digest))
    assert found.size == source.stat().st_size
    assert found.metadata["x-amz-meta-sha256"] == digest
    assert found.etag.endswith("-3")  # multipart, and its ETag was checked against our parts
    assert not PendingUploads(team.artifacts_dir).items()


@pytest.mark.services
def test_same_content_twice_is_one_object(team: Settings, tmp_path: Path, bucket: Any) -> None:
    source = random_file(tmp_path / "same.bin", 6 * MIB)
    with start("twice-a") as run:
        first = run.log_artifact(source, name="a.bin")
        second = run.log_artifact(source, name="b.bin")
    with start("twice-b") as run:
        third = run.log_artifact(source, name="c.bin")
    assert first == second == third
    objects = list(bucket.list_objects(team.s3_bucket, prefix=object_key(first)))
    assert [item.object_name for item in objects] == [object_key(first)]
    store = object_store(team)
    path = LocalArtifactStore(team.artifacts_dir).path_for(first)
    assert store.upload(path, first, path.stat().st_size) is False  # stat said: already there


@pytest.mark.services
def test_upload_refuses_a_local_copy_that_changed(team: Settings, tmp_path: Path) -> None:
    local = LocalArtifactStore(team.artifacts_dir)
    stored = local.put(random_file(tmp_path / "rot.bin", 1000))
    path = local.path_for(stored.sha256)
    path.write_bytes(os.urandom(1000))  # bit rot in the CAS after logging
    store = object_store(team)
    with pytest.raises(ArtifactIntegrityError, match="changed since it was logged"):
        store.upload(path, stored.sha256, 1000)
    assert store.stat(stored.sha256) is None  # the bad upload was removed


@pytest.mark.services
def test_failed_upload_is_kept_reported_and_retried(
    runstream_dir: Settings,
    s3_endpoint: S3Endpoint,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    bucket: Any,
) -> None:
    s3_env(monkeypatch, f"http://127.0.0.1:{closed_port()}", s3_endpoint)
    source = random_file(tmp_path / "offline.bin", 2 * MIB)
    run = start("offline")
    began = time.perf_counter()
    digest = run.log_artifact(source)
    assert time.perf_counter() - began < 2.0
    report = run.finish(upload_timeout=3.0)
    assert report.not_recorded == {NOT_UPLOADED: 1}
    settings = load_settings(runstream_dir.root)
    assert LocalArtifactStore(settings.artifacts_dir).path_for(digest).read_bytes() == (
        source.read_bytes()
    )
    assert PendingUploads(settings.artifacts_dir).items() == [(digest, s3_endpoint.bucket)]

    s3_env(monkeypatch, s3_endpoint.url, s3_endpoint)  # the server is back
    retried = upload_pending(load_settings(runstream_dir.root))
    assert (retried.uploaded + retried.already_there, retried.failed) == (1, {})
    assert bucket.stat_object(s3_endpoint.bucket, object_key(digest)).size == 2 * MIB
    assert PendingUploads(settings.artifacts_dir).items() == []
