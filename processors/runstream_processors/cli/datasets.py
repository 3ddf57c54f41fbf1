"""``runstream datasets list|show|diff``: versions, their files, what changed, who used them."""

from __future__ import annotations

from typing import Any

import click

from .. import queries
from ..errors import QueryError
from ..reproduce import datasets
from .context import settings_from
from .output import emit_document, emit_rows, format_option
from .session import store_for_query

_LIST_COLUMNS = (
    "project",
    "name",
    "version",
    "role",
    "files",
    "bytes",
    "stored",
    "runs",
    "first_logged",
)


@click.group("datasets")
def datasets_command() -> None:
    """Dataset versions logged with run.log_dataset(), their files and the runs that used them."""


@datasets_command.command("list")
@click.option("--name", default=None, help="only this dataset's versions")
@click.option("--project", default=None, help="only this project's datasets")
@format_option
@click.pass_context
def list_command(
    ctx: click.Context, name: str | None, project: str | None, output_format: str
) -> None:
    """Every version of every dataset, oldest first, with how many runs used each."""
    with store_for_query(settings_from(ctx), "runstream datasets list") as client:
        rows = queries.dataset_versions(client, name, project)
    emit_rows(rows, output_format, title="dataset versions", columns=_LIST_COLUMNS)


@datasets_command.command("show")
@click.argument("reference", metavar="NAME[@VERSION]")
@format_option
@click.pass_context
def show_command(ctx: click.Context, reference: str, output_format: str) -> None:
    """One version's files (path, size, SHA-256) and the runs that used it (default: latest)."""
    name, version = datasets.parse_reference(reference)
    with store_for_query(settings_from(ctx), "runstream datasets show") as client:
        found = datasets.resolve_version(client, name, version)
        files = queries.dataset_manifest(client, name, found["version"])
        runs = queries.dataset_runs(client, name, found["version"])
    document: dict[str, Any] = {
        "dataset": {key: found[key] for key in ("name", "version", "root", *_LIST_COLUMNS[3:])},
        "runs": runs,
        "files": files,
    }
    emit_document(document, output_format)


@datasets_command.command("diff")
@click.argument("name")
@click.argument("versions", nargs=-1)
@format_option
@click.pass_context
def diff_command(
    ctx: click.Context, name: str, versions: tuple[str, ...], output_format: str
) -> None:
    """Files added, removed and modified between two versions of NAME (default: the latest two)."""
    if len(versions) not in (0, 2):
        raise click.UsageError("give two versions (V1 V2), or none for the latest two")
    with store_for_query(settings_from(ctx), "runstream datasets diff") as client:
        if versions:
            old = datasets.resolve_version(client, name, versions[0])
            new = datasets.resolve_version(client, name, versions[1])
        else:
            found = datasets.versions(client, name)
            if len(found) < 2:
                raise QueryError(f"dataset {name!r} has one version only ({found[0]['version']})")
            old, new = found[-2], found[-1]
        before = datasets.manifest(client, name, old["version"])
        after = datasets.manifest(client, name, new["version"])
    changed = datasets.changes(before, after)
    summary = (
        f"{name} {old['version']} -> {new['version']}: {len(changed.added)} added, "
        f"{len(changed.removed)} removed, {len(changed.modified)} modified"
    )
    if output_format == "json":
        emit_document(
            {
                "name": name,
                "from": old["version"],
                "to": new["version"],
                "summary": summary,
                **changed.as_dict(),
            },
            output_format,
        )
        return
    click.echo(summary)
    rows = [
        {"change": change, "path": path, **_sizes(before, after, path)}
        for change, paths in changed.as_dict().items()
        for path in paths
    ]
    if rows:
        emit_rows(rows, output_format, columns=("change", "path", "old_size", "new_size"))


def _sizes(before: datasets.Files, after: datasets.Files, path: str) -> dict[str, Any]:
    return {
        "old_size": before[path][0] if path in before else None,
        "new_size": after[path][0] if path in after else None,
    }
