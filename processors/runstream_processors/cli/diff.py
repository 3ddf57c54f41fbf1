"""``runstream diff RUN_A RUN_B``: every difference of two runs, grouped, with a summary line."""

from __future__ import annotations

from typing import Any

import click

from ..reproduce.diff import difference, load
from .context import settings_from
from .output import console, emit_document, emit_rows, format_option
from .session import store_for_query

SHOWN_DIFF_LINES = 200
"""Lines of the difference of the uncommitted diffs a terminal gets; JSON has them all."""


@click.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@format_option
@click.pass_context
def diff_command(ctx: click.Context, run_a: str, run_b: str, output_format: str) -> None:
    """Params, code, data, environment, seed/determinism and command line that differ."""
    settings = settings_from(ctx)
    with store_for_query(settings, "runstream diff") as client:
        found = difference(load(client, settings, run_a), load(client, settings, run_b))
    if output_format == "json":
        emit_document(found, "json")
        return
    render(found, output_format)


def render(found: dict[str, Any], output_format: str = "table") -> None:
    """The difference for people: the summary line, then one table per group."""
    runs = found["runs"]
    click.echo(
        f"a = {runs['a']['name']} ({runs['a']['id'][:12]}), "
        f"b = {runs['b']['name']} ({runs['b']['id'][:12]}): {found['summary']}"
    )
    for group in ("params", "determinism"):
        if group in found:
            emit_rows(found[group], output_format, title=group, columns=("key", "a", "b"))
    if "code" in found:
        code = found["code"]
        if code.get("fields"):
            emit_rows(code["fields"], output_format, title="code", columns=("key", "a", "b"))
        if "uncommitted diff" in code:
            lines = code["uncommitted diff"].splitlines()
            click.echo("code: difference of the uncommitted diffs")
            console.print("\n".join(lines[:SHOWN_DIFF_LINES]), markup=False, highlight=False)
            if len(lines) > SHOWN_DIFF_LINES:
                click.echo(f"... {len(lines) - SHOWN_DIFF_LINES} more lines (--format json)")
    for row in found.get("data", []):
        title = f"data: {row['dataset']}" + (f" ({row['role']})" if row["role"] else "")
        changes = [
            {"change": change, "path": path}
            for change in ("added", "removed", "modified")
            for path in row[change]
        ]
        click.echo(f"{title}: {row['a']} -> {row['b']}")
        if changes:
            emit_rows(changes, output_format, columns=("change", "path"))
    environment = found.get("environment", {})
    packages = environment.get("packages")
    if packages:
        rows = [{"package": item, "a": None, "b": "added"} for item in packages["added"]]
        rows += [{"package": item, "a": "removed", "b": None} for item in packages["removed"]]
        rows += packages["changed"]
        emit_rows(rows, output_format, title="packages", columns=("package", "a", "b"))
    for group in ("python", "os", "hardware", "cuda"):
        if group in environment:
            emit_rows(environment[group], output_format, title=group, columns=("key", "a", "b"))
    if "command" in found:
        emit_rows(
            [{"run": side, "command": found["command"][side]} for side in ("a", "b")],
            output_format,
            title="command line",
        )
