"""``runstream artifacts list|get|upload``: a run's files, fetched by content and verified.

``get`` trusts only the SHA-256 recorded in the run's ``ArtifactLogged`` event: whatever the
source (the S3 object of the ``s3://`` uri, or a local content-addressed copy), the bytes are
hashed while they are written to a staging file next to the destination, and only a match is
renamed into place. A mismatch is deleted and reported, never left behind half-trusted.

The store is closed before downloading, so a long download never holds the embedded store.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from runstream.artifacts import (
    CHUNK_BYTES,
    ArtifactIntegrityError,
    ArtifactMissingError,
    LocalArtifactStore,
    ObjectStore,
    ObjectStoreError,
    S3Config,
    object_key,
    parse_s3_uri,
    upload_pending,
)
from runstream.settings import Settings

from .. import queries
from ..errors import QueryError
from .context import settings_from
from .output import console, emit_rows, errors, format_option
from .session import store_for_query

Row = dict[str, Any]
Chunks = Callable[[], Iterator[bytes]]
_PROGRESS_ABOVE_BYTES = 64 * 1024 * 1024
_COLUMNS = ("name", "kind", "size_bytes", "sha256", "uri", "time")


@click.group("artifacts")
def artifacts_command() -> None:
    """List a run's artifacts, download one (verified), or upload what is still local."""


@artifacts_command.command("list")
@click.argument("run")
@format_option
@click.pass_context
def list_command(ctx: click.Context, run: str, output_format: str) -> None:
    """Every artifact of RUN (id, id prefix or name), oldest first."""
    found, rows = _artifacts_of(settings_from(ctx), run, "runstream artifacts list")
    emit_rows(
        rows,
        output_format,
        title=f"artifacts of {found['name']} ({found['run_id'][:12]})",
        columns=_COLUMNS,
    )


@artifacts_command.command("get")
@click.argument("run")
@click.argument("name")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    help="file or existing directory to write to [default: ./NAME's file name]",
)
@click.option(
    "--sha",
    "sha_prefix",
    default="",
    help="the version whose SHA-256 starts with this (default: the latest logged)",
)
@click.option("--force", is_flag=True, help="overwrite an existing file")
@click.pass_context
def get_command(
    ctx: click.Context, run: str, name: str, out: Path | None, sha_prefix: str, force: bool
) -> None:
    """Download artifact NAME of RUN and verify its SHA-256 (a mismatch is deleted)."""
    settings = settings_from(ctx)
    _, rows = _artifacts_of(settings, run, "runstream artifacts get")
    artifact = choose(rows, name, sha_prefix.lower())
    destination = destination_for(out, name, force)
    with contextlib.ExitStack() as closing:
        source_label, chunks = source_for(settings, artifact, closing)
        with _progress(int(artifact["size_bytes"]), name) as advance:
            write_verified(
                _counted(chunks(), advance),
                artifact["sha256"],
                int(artifact["size_bytes"]),
                destination,
                source_label,
            )
    click.echo(destination)  # stdout: just the path, for scripts
    click.echo(
        f"{artifact['size_bytes']} bytes, sha256 {artifact['sha256']} verified, "
        f"from {source_label}",
        err=True,
    )


@artifacts_command.command("upload")
@click.pass_context
def upload_command(ctx: click.Context) -> None:
    """Upload artifacts this machine logged but could not upload yet (needs RUNSTREAM_S3_*)."""
    settings = settings_from(ctx)
    if S3Config.from_settings(settings) is None:
        raise ObjectStoreError(
            "no object store to upload to: set RUNSTREAM_S3_ENDPOINT (and "
            "RUNSTREAM_S3_ACCESS_KEY, RUNSTREAM_S3_SECRET_KEY, RUNSTREAM_S3_BUCKET as needed)"
        )
    report = upload_pending(settings)
    console.print(
        f"{report.uploaded} uploaded, {report.already_there} already in the bucket, "
        f"{len(report.failed)} failed"
    )
    for sha256, reason in report.failed.items():
        errors.print(f"[red]{sha256[:12]}[/]: {reason}", highlight=False)
    if report.failed:
        raise click.exceptions.Exit(1)


# -- choosing ------------------------------------------------------------------------------


def _artifacts_of(settings: Settings, run: str, purpose: str) -> tuple[Row, list[Row]]:
    with store_for_query(settings, purpose) as client:
        found = queries.resolve_run(client, run)
        rows = [_text_digest(row) for row in queries.artifacts(client, found["run_id"])]
    return found, rows


def _text_digest(row: Row) -> Row:
    """FixedString columns may come back as bytes."""
    if isinstance(row.get("sha256"), bytes):
        row["sha256"] = row["sha256"].decode("ascii")
    return row


def choose(rows: list[Row], name: str, sha_prefix: str = "") -> Row:
    """The latest artifact called ``name`` (or the one whose digest starts with ``sha_prefix``)."""
    named = [row for row in rows if row["name"] == name]
    if not named:
        known = ", ".join(sorted({row["name"] for row in rows})[:20]) or "none"
        raise QueryError(f"the run has no artifact named {name!r} (it has: {known})")
    matching = [row for row in named if row["sha256"].startswith(sha_prefix)]
    if not matching:
        versions = ", ".join(row["sha256"][:12] for row in named)
        raise QueryError(
            f"no version of {name!r} has a SHA-256 starting with {sha_prefix!r} "
            f"(versions: {versions})"
        )
    return max(matching, key=lambda row: row["time"])


def destination_for(out: Path | None, name: str, force: bool) -> Path:
    """``--out`` as given, inside it when it is a directory, else ``./<file name>``."""
    file_name = Path(name).name or "artifact"
    target = Path.cwd() / file_name if out is None else out / file_name if out.is_dir() else out
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists; pass --force to overwrite it")
    if not target.parent.is_dir():
        raise click.UsageError(f"directory {target.parent} does not exist")
    return target


# -- sources ---------------------------------------------------------------------------------


def source_for(
    settings: Settings, artifact: Row, closing: contextlib.ExitStack
) -> tuple[str, Chunks]:
    """Where to read the bytes: the uri's own place first, then this machine's local store.

    An S3 client it opens is closed by ``closing`` (left to interpreter exit, the client's
    ``__del__`` prints an "Exception ignored" traceback).
    """
    uri, sha256 = artifact["uri"], artifact["sha256"]
    local = LocalArtifactStore(settings.artifacts_dir).path_for(sha256)
    scheme = urlsplit(uri).scheme
    if scheme == "s3":
        return _s3_or_local(settings, uri, sha256, local, closing)
    if scheme == "file":
        recorded = Path(unquote(urlsplit(uri).path))
        for path in (recorded, local):
            if path.is_file():
                return f"file://{path}", lambda path=path: _file_chunks(path)
        raise ObjectStoreError(
            f"{uri} is not on this machine (nor in {local.parent.parent}): the "
            "run was logged in embedded mode elsewhere; copy it from there"
        )
    raise ObjectStoreError(f"unsupported artifact uri {uri!r}")


def _s3_or_local(
    settings: Settings, uri: str, sha256: str, local: Path, closing: contextlib.ExitStack
) -> tuple[str, Chunks]:
    bucket, key = parse_s3_uri(uri)
    config = S3Config.from_settings(settings)
    if config is None:
        if local.is_file():  # logged here, S3 not configured in this shell
            return f"file://{local}", lambda: _file_chunks(local)
        raise ObjectStoreError(
            f"{uri} is in an object store: set RUNSTREAM_S3_ENDPOINT, "
            "RUNSTREAM_S3_ACCESS_KEY and RUNSTREAM_S3_SECRET_KEY to download it"
        )
    store = ObjectStore.connect(config).with_bucket(bucket)
    closing.callback(store.close)
    if key == object_key(sha256) and store.stat(sha256) is None:
        if local.is_file():  # its upload is still pending on this machine
            return f"file://{local}", lambda: _file_chunks(local)
        raise ArtifactMissingError(
            f"{uri} is not in the bucket at {config.endpoint} yet: its upload is pending or "
            "failed; on the machine that logged it, run `runstream artifacts upload`"
        )
    return f"{uri} at {config.endpoint}", lambda: store.chunks(sha256, key)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            yield chunk


# -- writing -------------------------------------------------------------------------------


def write_verified(
    chunks: Iterable[bytes], sha256: str, size: int, destination: Path, source: str = "the source"
) -> None:
    """Stream into a staging file, hashing; rename into place only if digest and size match."""
    staged = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    digest, written = hashlib.sha256(), 0
    try:
        with open(staged, "wb") as sink:
            for chunk in chunks:
                digest.update(chunk)
                sink.write(chunk)
                written += len(chunk)
        if written != size or digest.hexdigest() != sha256:
            raise ArtifactIntegrityError(
                f"refused {source}: its bytes hash to {digest.hexdigest()} ({written} bytes) but "
                f"the run recorded {sha256} ({size} bytes); the copy is corrupt and was deleted"
            )
        os.replace(staged, destination)
    finally:
        staged.unlink(missing_ok=True)


def _counted(chunks: Iterable[bytes], advance: Callable[[int], None]) -> Iterator[bytes]:
    for chunk in chunks:
        advance(len(chunk))
        yield chunk


@contextlib.contextmanager
def _progress(size: int, name: str) -> Iterator[Callable[[int], None]]:
    if size < _PROGRESS_ABOVE_BYTES:
        yield lambda _done: None
        return
    with Progress(
        TextColumn(name),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task("download", total=size)
        yield lambda done: progress.advance(task, done)
