"""Render results for people (rich tables) and for scripts (``--format json|csv``)."""

from __future__ import annotations

import csv
import datetime
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

Row = dict[str, Any]
FORMATS = ("table", "json", "csv")
F = TypeVar("F", bound=Callable[..., Any])

# Piped output is read by people too (less, CI logs): do not squeeze tables into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True)


def format_option(function: F) -> F:
    """``--format table|json|csv`` on a command."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people; json or csv for scripts",
    )(function)


def plain(value: Any) -> Any:
    """JSON-safe value: datetimes as ISO 8601, NaN/Inf as strings, bytes as hex."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def cell(value: Any) -> str:
    """Compact text for a table cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(cell(item) for item in value)
    return str(value)


def emit_rows(
    rows: Sequence[Row],
    output_format: str,
    title: str | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Print rows as a table, JSON array or CSV."""
    names = list(columns or (rows[0].keys() if rows else []))
    if output_format == "json":
        click.echo(
            json.dumps([{name: plain(row.get(name)) for name in names} for row in rows], indent=2)
        )
    elif output_format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows(
            [
                cell(row.get(name)) if not isinstance(row.get(name), str) else row[name]
                for name in names
            ]
            for row in rows
        )
    else:
        table = Table(title=title, title_justify="left", show_lines=False)
        for name in names:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(cell(row.get(name)) for name in names))
        console.print(table)


def emit_document(sections: dict[str, Any], output_format: str) -> None:
    """Named sections (dicts or row lists): tables for people, one JSON document for scripts."""
    if output_format == "json":
        click.echo(json.dumps(plain(sections), indent=2))
        return
    for title, content in sections.items():
        if isinstance(content, dict):
            content = [{"field": key, "value": value} for key, value in content.items()]
        if output_format == "csv":
            click.echo(f"# {title}")
        if content:
            emit_rows(content, output_format, title=title)
