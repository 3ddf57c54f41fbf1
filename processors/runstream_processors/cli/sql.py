"""``runstream sql``: ad hoc SQL on the store (tables live in the ``runstream`` database)."""

from __future__ import annotations

import click

from .. import queries
from .context import settings_from
from .output import emit_rows, format_option
from .session import store_for_query


@click.command("sql")
@click.argument("query")
@format_option
@click.pass_context
def sql_command(ctx: click.Context, query: str, output_format: str) -> None:
    """Run QUERY, e.g. "SELECT name, status FROM runstream.runs"."""
    with store_for_query(settings_from(ctx), "runstream sql") as client:
        rows = queries.rows(client, query)
    emit_rows(rows, output_format)
