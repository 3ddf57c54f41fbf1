"""The names a user writes for a run's columns, and the SQL over ``runstream.run_table`` they mean.

``runstream runs --where/--sort`` and ``leaderboard`` take these names; dashboards and ad
hoc SQL read the same view, so a filter means the same thing everywhere:

- ``params.KEY``: the param (a number compares as a number, against a quoted string as text);
- ``metrics.METRIC`` (or a bare metric name in ``--sort``): its final value;
- ``best.METRIC``: its best value (lowest for losses and errors, else highest);
- ``group``, ``commit``, ``start``: ``run_group``, ``git_commit``, ``start_time``; every other
  column of ``run_table`` by its own name (``status``, ``user``, ``tags``, ``duration_s``...).

A run without the param or metric never matches a comparison (NULL), and sorts last.
"""

from __future__ import annotations

import re

from .errors import QueryError

ALIASES = {"group": "run_group", "commit": "git_commit", "start": "start_time", "id": "run_id"}
_PREFIXED = re.compile(r"\b(params|metrics|best)\.([A-Za-z0-9_][\w.\-/]*)")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
_TEXT_COMPARISON = re.compile(
    r"\s*(?:=|==|!=|<>|NOT\s+LIKE|LIKE|ILIKE|NOT\s+IN|IN)\s*\(?\s*'", re.IGNORECASE
)
_ALIAS = re.compile(r"(?<![.\w'])(" + "|".join(ALIASES) + r")\b(?![.(])")
_MAP = {"metrics": "metrics_last", "best": "metrics_best"}


def quoted(text: str) -> str:
    """A ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def param_sql(key: str, as_text: bool = False) -> str:
    column = "params_text" if as_text else "params_number"
    return f"if(mapContains({column}, {quoted(key)}), {column}[{quoted(key)}], NULL)"


def metric_sql(metric: str, best: bool = False) -> str:
    column = _MAP["best" if best else "metrics"]
    return f"if(mapContains({column}, {quoted(metric)}), {column}[{quoted(metric)}], NULL)"


def where_sql(expression: str) -> str:
    """``expression`` with the names above in SQL; string literals are left as written."""
    parts: list[str] = []
    position = 0
    for literal in _STRING.finditer(expression):
        parts.append(_names(expression[position : literal.start()], expression, position))
        parts.append(literal.group())
        position = literal.end()
    rest = expression[position:]
    if "'" in rest:
        raise QueryError(f"--where: unterminated string in {expression!r}")
    parts.append(_names(rest, expression, position))
    return "".join(parts)


def sort_sql(column: str, metrics: set[str]) -> tuple[str, ...]:
    """What a ``--sort`` name orders by: a built-in column, params.KEY (numbers, then text),
    a metric."""
    prefixed = _PREFIXED.fullmatch(column)
    if prefixed:
        kind, name = prefixed.groups()
        if kind == "params":
            return (param_sql(name), param_sql(name, as_text=True))
        return (metric_sql(name, best=kind == "best"),)
    if column in metrics:
        return (metric_sql(column),)
    return (ALIASES.get(column, column),)


def _names(segment: str, whole: str, offset: int) -> str:
    def prefixed(match: re.Match[str]) -> str:
        kind, name = match.groups()
        if kind != "params":
            return metric_sql(name, best=kind == "best")
        after = whole[offset + match.end() :]
        return param_sql(name, as_text=bool(_TEXT_COMPARISON.match(after)))

    return _ALIAS.sub(lambda match: ALIASES[match.group(1)], _PREFIXED.sub(prefixed, segment))
