"""``runstream sql``: ad hoc SQL on the store (tables live in the ``runstream`` database).

Read-only unless ``--write``: the statement runs in a ``readonly = 2`` session, so the
engine itself refuses DDL, INSERT, ALTER, DROP and the like (and any change of
``readonly``), on the embedded store as through a server. One statement per call: the
engine parses the text first (``formatQuery`` refuses several statements, whatever the
quoting, comments or heredocs), since the embedded engine would otherwise run them one
after another and print only the first answer.
"""

from __future__ import annotations

import re
from typing import Any

import click

from .. import queries
from ..errors import QueryError
from .context import settings_from
from .output import emit_rows, errors, format_option
from .session import store_for_query

WRITE_NOTICE = "runstream: --write: this statement may change the store"
READ_ONLY_HINT = "runstream sql only reads; pass --write to change the store"
ONE_STATEMENT = "runstream sql runs one statement at a time; run each on its own"


@click.command("sql")
@click.argument("query")
@click.option(
    "--write",
    is_flag=True,
    help="allow statements that change the store (DDL, INSERT, ALTER, DROP)",
)
@format_option
@click.pass_context
def sql_command(ctx: click.Context, query: str, write: bool, output_format: str) -> None:
    """Run QUERY, e.g. "SELECT name, status FROM runstream.runs"; read-only unless --write."""
    with store_for_query(settings_from(ctx), "runstream sql") as client:
        check_one_statement(client, query)
        if write:
            errors.print(WRITE_NOTICE, highlight=False)
        else:
            read_only(client)
        try:
            rows = queries.rows(client, query)
        except QueryError as exc:
            if "(READONLY)" in str(exc):
                raise QueryError(f"{READ_ONLY_HINT} ({exc})") from exc
            raise
    emit_rows(rows, output_format)


def read_only(client: Any) -> None:
    """Make every later statement of ``client`` read-only (``readonly = 2``).

    clickhouse-connect keeps a client setting per client: on the embedded store it is a
    ``SET`` on this client's own chdb handle (the session the statement runs in), through
    a server it is sent as the ``readonly`` URL parameter of every request. Level 2 still
    lets a query set other settings (``SETTINGS max_threads = 1``) but not ``readonly``.
    """
    current = client.server_settings.get("readonly")
    if current is not None and current.value != "0":
        return  # the account is read-only already, and may not change the level
    client.set_client_setting("readonly", "2")


def check_one_statement(client: Any, sql: str) -> None:
    """Raise QueryError unless ``sql`` is one statement (a trailing ``;`` is fine).

    The engine parses the text (the argument bound as a parameter, never spliced in):
    formatQuery refuses multi-statements. It stops at the inline data of an INSERT,
    though, and the embedded engine ends ``VALUES`` data at a ``;`` and runs what
    follows; so for such an INSERT the text after the data must hold nothing but
    comments, checked with a scanner that knows ClickHouse's literals and comments.
    """
    try:
        formatted = queries.rows(client, "SELECT formatQuery({sql:String}) AS q", {"sql": sql})
    except QueryError as exc:
        if "Multi-statements" in str(exc):
            raise QueryError(ONE_STATEMENT) from exc
        raise
    text = str(formatted[0]["q"])
    inline_values = text.startswith("INSERT") and text.rstrip().endswith("FORMAT Values")
    if inline_values and _statements_after_first(sql):
        raise QueryError(ONE_STATEMENT)


_LEXEME = re.compile(
    r"""
    (?P<space>\s+)
    |(?P<comment>--[^\n]*|\#[ !][^\n]*|/\*.*?\*/)
    |(?P<string>'(?:[^'\\]|\\.|'')*'?)
    |(?P<quoted>"(?:[^"\\]|\\.|"")*"?|`(?:[^`\\]|\\.|``)*`?)
    |(?P<heredoc>\$(?P<tag>[A-Za-z0-9_]*)\$.*?(?:\$(?P=tag)\$|\Z))
    |(?P<semicolon>;)
    |(?P<other>[^\s;'"`$\#/-]+|.)
    """,
    re.S | re.X,
)


def _statements_after_first(sql: str) -> bool:
    """Whether a significant token follows the first top-level ``;`` of ``sql``."""
    seen_semicolon = False
    for match in _LEXEME.finditer(sql):
        kind = match.lastgroup
        if kind in ("space", "comment") or (kind == "semicolon" and seen_semicolon):
            continue
        if kind == "semicolon":
            seen_semicolon = True
        elif seen_semicolon:
            return True
    return False
