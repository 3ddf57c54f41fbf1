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
from runstream.settings import env_value

Row = dict[str, Any]
FORMATS = ("table", "json", "csv")
F = TypeVar("F", bound=Callable[..., Any])

PIPED_WIDTH = 100
"""Table width when stdout is no terminal and COLUMNS is unset: piped output is read by
people too (less, CI logs, a narrow pane), so long values fold within a width a reader can
follow rather than run to 200 columns. In a terminal, tables fit its width."""


def _width() -> int | None:
    if sys.stdout.isatty() or (env_value("COLUMNS") or "").isdigit():
        return None  # rich takes the terminal's width, or COLUMNS
    return PIPED_WIDTH


console = Console(width=_width())
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
        cells = [[cell(row.get(name)) for name in names] for row in rows]
        for name, least in zip(names, _min_widths(names, cells), strict=True):
            table.add_column(name, overflow="fold", min_width=least)
        for line in cells:
            table.add_row(*line)
        console.print(table)


def _min_widths(names: Sequence[str], cells: Sequence[Sequence[str]]) -> list[int]:
    """Widths below which a column does not shrink: long values fold, while the first column
    (what a row is about) and short values keep their words whole as long as the console's
    width allows (3 characters of border and padding a column)."""
    wanted = [
        min(max([len(name), *(len(line[index]) for line in cells)]), 32 if index == 0 else 14)
        for index, name in enumerate(names)
    ]
    room = console.width - 3 * len(names) - 1
    total = sum(wanted)
    if total <= room:
        return wanted
    return [max(1, want * max(room, 0) // total) for want in wanted]


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
