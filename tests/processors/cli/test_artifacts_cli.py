"""``runstream artifacts list|get|upload`` against a real store and a real S3 server.

Every download is checked byte for byte against the file that was logged; a corrupted object
must be refused and leave nothing behind.
"""

from __future__ import annotations

import filecmp
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import runstream
from click.testing import CliRunner, Result
from real_services import S3Endpoint
from runstream.artifacts import ArtifactIntegrityError, LocalArtifactStore, object_key
from runstream.settings import Settings, load_settings
from runstream_processors.cli.artifacts import write_verified
from runstream_processors.cli.main import cli

MIB = 1024 * 1024


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as out:
        for offset in range(0, size, 4 * MIB):
            out.write(os.urandom(min(4 * MIB, size - offset)))
    return path


def log_file(run_name: str, path: Path, name: str | None = None) -> str:
    with runstream.init(  # no code or environment capture: no diff or requirements artifact
        project="artifacts",
        name=run_name,
        system_interval=None,
        capture_code=False,
        capture_env=False,
    ) as run:
        digest = run.log_artifact(path, name=name, kind="checkpoint")
    assert run.report is not None and run.report.complete, run.report
    return digest


@pytest.fixture
def team(
    runstream_dir: Settings, s3_endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("RUNSTREAM_S3_ENDPOINT", s3_endpoint.url)
    monkeypatch.setenv("RUNSTREAM_S3_ACCESS_KEY", s3_endpoint.access_key)
    monkeypatch.setenv("RUNSTREAM_S3_SECRET_KEY", s3_endpoint.secret_key)
    monkeypatch.setenv("RUNSTREAM_S3_BUCKET", s3_endpoint.bucket)
    return load_settings(runstream_dir.root)


@pytest.fixture
def bucket(s3_endpoint: S3Endpoint) -> Any:
    from minio import Minio

    return Minio(
        s3_endpoint.netloc,
        access_key=s3_endpoint.access_key,
        secret_key=s3_endpoint.secret_key,
        secure=s3_endpoint.secure,
    )


# -- embedded mode -------------------------------------------------------------------------


def test_embedded_list_and_get(runstream_dir: Settings, tmp_path: Path) -> None:
    source = random_file(tmp_path / "weights.pt", 3 * MIB + 17)
    digest = log_file("local-run", source)
    listed = invoke("artifacts", "list", "local-run", "--format", "json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    cas = runstream_dir.artifacts_dir / "sha256" / digest[:2] / digest
    assert row["uri"] == cas.as_uri() and row["sha256"] == digest  # same addressing as S3
    assert row["size_bytes"] == source.stat().st_size and row["name"] == "weights.pt"

    out = tmp_path / "fetched"
    out.mkdir()
    got = invoke("artifacts", "get", "local-run", "weights.pt", "--out", str(out))
    assert got.exit_code == 0, got.output
    assert filecmp.cmp(source, out / "weights.pt", shallow=False)
    again = invoke("artifacts", "get", "local-run", "weights.pt", "--out", str(out))
    assert again.exit_code != 0 and "--force" in again.output
    forced = invoke("artifacts", "get", "local-run", "weights.pt", "--out", str(out), "--force")
    assert forced.exit_code == 0, forced.output


def test_get_picks_the_latest_version_or_a_digest(runstream_dir: Settings, tmp_path: Path) -> None:
    first = random_file(tmp_path / "ckpt-1", 1000)
    second = random_file(tmp_path / "ckpt-2", 1000)
    with runstream.init(project="artifacts", name="epochs", system_interval=None) as run:
        old = run.log_artifact(first, name="model.pt")
        run.log_artifact(second, name="model.pt")
    latest = tmp_path / "latest.pt"
    assert invoke("artifacts", "get", "epochs", "model.pt", "--out", str(latest)).exit_code == 0
    assert latest.read_bytes() == second.read_bytes()
    older = tmp_path / "older.pt"
    result = invoke("artifacts", "get", "epochs", "model.pt", "--sha", old[:8], "--out", str(older))
    assert result.exit_code == 0 and older.read_bytes() == first.read_bytes()
    missing = invoke("artifacts", "get", "epochs", "nope.pt")
    assert missing.exit_code != 0 and "no artifact named 'nope.pt'" in str(missing.exception)


def test_write_verified_deletes_a_mismatch(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    digest = hashlib.sha256(b"expected").hexdigest()
    with pytest.raises(ArtifactIntegrityError, match="corrupt"):
        write_verified(iter([b"tampered"]), digest, 8, target)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a partial one
    write_verified(io.BytesIO(b"expected"), digest, 8, target)
    assert target.read_bytes() == b"expected"


# -- team mode: S3 -------------------------------------------------------------------------


@pytest.mark.services
def test_large_artifact_round_trips_through_s3(team: Settings, tmp_path: Path, bucket: Any) -> None:
    source = random_file(tmp_path / "big.bin", 70 * MIB + 5)  # above the multipart threshold
    digest = log_file("s3-run", source, name="model/big.bin")
    listed = json.loads(invoke("artifacts", "list", "s3-run", "--format", "json").stdout)
    assert [row["uri"] for row in listed] == [f"s3://{team.s3_bucket}/sha256/{digest}"]

    cas = team.artifacts_dir / "sha256" / digest[:2] / digest
    cas.unlink()  # prove the bytes come from the bucket, not from this machine's copy
    out = tmp_path / "downloaded.bin"
    command = [sys.executable, "-m", "runstream_processors.cli.main"]  # as a user runs it
    done = subprocess.run(
        [*command, "artifacts", "get", "s3-run", "model/big.bin", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr, "the S3 client was left to __del__"
    assert done.stdout.strip() == str(out)
    assert "verified" in done.stderr and f"s3://{team.s3_bucket}" in done.stderr
    assert filecmp.cmp(source, out, shallow=False)


@pytest.mark.services
def test_corrupted_object_is_refused(team: Settings, tmp_path: Path, bucket: Any) -> None:
    source = random_file(tmp_path / "victim.bin", 2 * MIB)
    digest = log_file("corrupt-run", source)
    forged = os.urandom(2 * MIB)  # same size, same metadata: only the content is wrong
    bucket.put_object(
        team.s3_bucket,
        object_key(digest),
        io.BytesIO(forged),
        len(forged),
        metadata={"sha256": digest},
    )
    out = tmp_path / "fetched"
    out.mkdir()
    result = invoke("artifacts", "get", "corrupt-run", "victim.bin", "--out", str(out))
    assert result.exit_code != 0
    assert isinstance(result.exception, ArtifactIntegrityError)
    assert "corrupt" in str(result.exception) and digest in str(result.exception)
    assert list(out.iterdir()) == []  # the download was deleted


@pytest.mark.services
def test_a_refused_download_is_one_error_line_and_the_s3_client_is_closed(
    team: Settings, tmp_path: Path, bucket: Any
) -> None:
    """As a user runs it: the error's traceback keeps the command's frames alive until exit,
    where an unclosed S3 client's ``__del__`` would print "Exception ignored"."""
    source = random_file(tmp_path / "victim.bin", 64 * 1024)
    digest = log_file("refused-run", source)
    forged = os.urandom(64 * 1024)
    bucket.put_object(
        team.s3_bucket,
        object_key(digest),
        io.BytesIO(forged),
        len(forged),
        metadata={"sha256": digest},
    )
    command = [sys.executable, "-m", "runstream_processors.cli.main"]
    done = subprocess.run(
        [*command, "artifacts", "get", "refused-run", "victim.bin", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert done.returncode == 1, done.stderr
    assert "corrupt" in done.stderr and digest in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.services
@pytest.mark.parametrize("forge", [False, True], ids=["verified", "refused"])
def test_get_closes_every_s3_client_it_opened(
    team: Settings, tmp_path: Path, bucket: Any, monkeypatch: pytest.MonkeyPatch, forge: bool
) -> None:
    """Closed by the command itself, not left to ``Minio.__del__`` (which prints a traceback
    when it runs at interpreter exit); the connections are the real client's."""
    from runstream.artifacts import ObjectStore

    source = random_file(tmp_path / "w.bin", 64 * 1024)
    digest = log_file("closing-run", source)
    if forge:
        forged = os.urandom(64 * 1024)
        bucket.put_object(
            team.s3_bucket,
            object_key(digest),
            io.BytesIO(forged),
            len(forged),
            metadata={"sha256": digest},
        )
    LocalArtifactStore(team.artifacts_dir).path_for(digest).unlink()  # from the bucket only
    opened: list[ObjectStore] = []
    connect = ObjectStore.connect.__func__  # type: ignore[attr-defined]

    def recording(cls: type[ObjectStore], config: Any) -> ObjectStore:
        opened.append(connect(cls, config))
        return opened[-1]

    monkeypatch.setattr(ObjectStore, "connect", classmethod(recording))
    got = invoke("artifacts", "get", "closing-run", "w.bin", "--out", str(tmp_path / "out.bin"))
    assert (got.exit_code != 0) == forge, got.output
    assert opened, "the bytes came from S3"
    assert all(not hasattr(store.client, "_http") for store in opened), "a client left open"


@pytest.mark.services
def test_pending_upload_is_served_locally_then_uploaded(
    team: Settings, tmp_path: Path, bucket: Any
) -> None:
    from runstream.artifacts import LocalArtifactStore, PendingUploads

    source = random_file(tmp_path / "late.bin", 1 * MIB)
    digest = log_file("late-run", source)
    bucket.remove_object(team.s3_bucket, object_key(digest))  # as if the upload had failed
    PendingUploads(team.artifacts_dir).add(digest, team.s3_bucket)
    local_copy = tmp_path / "local.bin"
    got = invoke("artifacts", "get", "late-run", "late.bin", "--out", str(local_copy))
    assert got.exit_code == 0 and "file://" in got.stderr
    assert filecmp.cmp(source, local_copy, shallow=False)

    uploaded = invoke("artifacts", "upload")
    assert uploaded.exit_code == 0 and "1 uploaded" in uploaded.stdout
    LocalArtifactStore(team.artifacts_dir).path_for(digest).unlink()
    remote_copy = tmp_path / "remote.bin"
    got = invoke("artifacts", "get", "late-run", "late.bin", "--out", str(remote_copy))
    assert got.exit_code == 0 and "s3://" in got.stderr, got.output
    assert filecmp.cmp(source, remote_copy, shallow=False)


def test_upload_without_s3_settings_fails_naming_them(runstream_dir: Settings) -> None:
    from runstream.artifacts import ObjectStoreError

    result = invoke("artifacts", "upload")
    assert result.exit_code != 0
    assert isinstance(result.exception, ObjectStoreError)
    assert "RUNSTREAM_S3_ENDPOINT" in str(result.exception)
    assert "RUNSTREAM_S3_ACCESS_KEY" in str(result.exception)
    done = subprocess.run(
        [sys.executable, "-m", "runstream_processors.cli.main", "artifacts", "upload"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "RUNSTREAM_S3_ENDPOINT" in done.stderr, done.stderr
    assert "0 uploaded" not in done.stdout and "Traceback" not in done.stderr
