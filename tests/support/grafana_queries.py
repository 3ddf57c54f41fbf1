"""Expand dashboard queries the way Grafana 12 and the ClickHouse plugin 4.20.0 do.

Only what runstream's dashboards use is implemented, each piece after its source;
anything else raises ``Unsupported``, so a dashboard that starts using a new feature
fails its tests until the expander learns it (rather than being tested half-expanded).

Sources (read at the versions pinned in docker-compose.yml):

- Variable syntax: grafana/scenes ``packages/scenes/src/variables/constants.ts``
  ``VARIABLE_REGEX``: ``$var``, ``[[var]]``, ``[[var:fmt]]``, ``${var}``, ``${var:fmt}``
  (``${var.field}`` is not used, so refused). A name that is no variable is left as is.
- Formats: ``packages/scenes/src/variables/interpolation/formatRegistry.ts`` (the
  same semantics as grafana/grafana ``public/app/features/templating/formatRegistry.ts``):

  - ``singlequote``: each value becomes ``'v'`` with every ``'`` replaced by ``\\'``
    (backslashes are left alone), an array joins them with ``,``;
  - ``sqlstring``: the same with ``'`` doubled to ``''`` and ``"`` made ``\\"``;
  - ``percentencode``: ``encodeURIComponent`` and then ``!'()*`` as ``%XX``; an array is
    first turned into ``{v1,v2}``;
  - ``csv``: an array joined with ``,``; ``raw``: the value as is.

  An explicit ``:fmt`` wins over the format the data source passes
  (``sceneInterpolator.ts``: ``fmt2 || fmt3 || format``).
- Without ``:fmt``: the plugin's own format function, ``src/data/CHDatasource.ts``
  ``format()``: an array becomes ``'v1','v2'`` (nothing escaped), a single value is
  inserted raw. ``applyTemplateVariables`` runs it on every panel and variable query.
- Custom variables (``CustomVariable.ts``): options from the query split at commas not
  escaped by ``\\``, each ``text : value`` or a value that is its own text.
- Values (``packages/scenes/src/variables/variants/MultiValueVariable.ts``): a query
  variable's options come from its query, first column the value, second the text
  (``CHDatasource.ts`` ``metricFindQuery``); "All" without an ``allValue`` is the list of
  every option's value; a value set by the URL survives the first validation
  (``skipNextValidation``), so any string can reach a query.
"""

from __future__ import annotations

import datetime
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Value = str | list[str]

# grafana/scenes VARIABLE_REGEX, verbatim apart from Python's group syntax.
VARIABLE_REGEX = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}"
)
ALL = "$__all"
BACKEND_MACROS = {"__timeFilter"}  # the plugin's macros that the expander implements


class Unsupported(Exception):
    """The query uses a Grafana or plugin feature the expander does not implement."""


def _replace(value: str, pattern: str, replacement: str) -> str:
    return re.sub(pattern, lambda _: replacement, value)


def encode_uri_component_strict(value: str) -> str:
    """JavaScript's encodeURIComponent, then ``!'()*`` as well (formatRegistry.ts)."""
    # encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) and encodes UTF-8 bytes as %XX
    # (upper-case hex); the strict variant encodes !'()* too, leaving exactly what quote()
    # leaves with safe="" (Python's unreserved set: letters, digits, "_.-~").
    return urllib.parse.quote(value, safe="", encoding="utf-8", errors="strict")


def _singlequote(value: Value) -> str:
    def one(v: str) -> str:
        return "'" + _replace(v, "'", "\\'") + "'"

    return ",".join(one(v) for v in value) if isinstance(value, list) else one(value)


def _sqlstring(value: Value) -> str:
    def one(v: str) -> str:
        return "'" + re.sub("'|\"", lambda m: "''" if m[0] == "'" else '\\"', v) + "'"

    return ",".join(one(v) for v in value) if isinstance(value, list) else one(value)


def _percentencode(value: Value) -> str:
    if isinstance(value, list):
        return encode_uri_component_strict("{" + ",".join(value) + "}")
    return encode_uri_component_strict(value)


def _csv(value: Value) -> str:
    return ",".join(value) if isinstance(value, list) else value


def _raw(value: Value) -> str:
    return str(value) if not isinstance(value, list) else ",".join(value)


def plugin_format(value: Value) -> str:
    """``CHDatasource.format``: the format used where a query names no ``:fmt``."""
    if isinstance(value, list):
        return "'" + "','".join(value) + "'"
    return value


FORMATS: dict[str, Callable[[Value], str]] = {
    "singlequote": _singlequote,
    "sqlstring": _sqlstring,
    "percentencode": _percentencode,
    "csv": _csv,
    "raw": _raw,
}


@dataclass
class Variable:
    """One entry of a dashboard's ``templating.list``."""

    name: str
    type: str
    query: str = ""
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, text)

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Variable:
        if entry["type"] not in ("query", "datasource", "custom"):
            raise Unsupported(f"variable {entry['name']!r} of type {entry['type']!r}")
        if entry.get("regex"):
            raise Unsupported(f"variable {entry['name']!r}: a regex filter")
        if entry.get("sort"):
            raise Unsupported(f"variable {entry['name']!r}: sort {entry['sort']}")
        variable = cls(
            name=entry["name"],
            type=entry["type"],
            query=entry.get("query") or "" if entry["type"] == "query" else "",
            multi=bool(entry.get("multi")),
            include_all=bool(entry.get("includeAll")),
            all_value=entry.get("allValue") or None,
        )
        if entry["type"] == "custom":
            variable.options = custom_options(entry.get("query") or "")
        return variable

    def value_of(self, selected: Value) -> Value:
        """``MultiValueVariable.getValue``: All is every option's value (no allValue here)."""
        if selected == ALL or (isinstance(selected, list) and selected[:1] == [ALL]):
            if self.all_value is not None:
                raise Unsupported(f"variable {self.name!r}: a custom all value")
            return [value for value, _ in self.options]
        return selected


def custom_options(query: str) -> list[tuple[str, str]]:
    """``CustomVariable.getValueOptions``: split at commas not after ``\\``, ``text : value``."""
    if "$" in query or "[[" in query:
        raise Unsupported(f"a custom variable that refers to others: {query!r}")
    options = []
    for piece in re.findall(r"(?:\\,|[^,])+", query):
        text = piece.replace("\\,", ",")
        pair = re.match(r"^\s*(.+)\s:\s(.+)$", text)
        if pair:
            options.append((pair[2].strip(), pair[1].strip()))
        else:
            options.append((text.strip(), text.strip()))
    return options


def default_selection(variable: Variable) -> Value:
    """What a fresh dashboard selects (scenes ``MultiValueVariable.validateAndUpdate``): All
    where the variable includes it (the dashboard schema sets ``defaultToAll`` from
    ``includeAll``), else the first option, as a list for a multi-value variable."""
    if variable.include_all:
        return ALL
    first = variable.options[0][0] if variable.options else ""
    return [first] if variable.multi else first


def dashboard_variables(dashboard: Mapping[str, Any]) -> list[Variable]:
    """The dashboard's variables, each after those its query refers to."""
    variables = {
        entry["name"]: Variable.from_json(entry)
        for entry in dashboard.get("templating", {}).get("list", [])
    }
    ordered: list[Variable] = []

    def visit(variable: Variable, path: tuple[str, ...]) -> None:
        if variable in ordered:
            return
        if variable.name in path:
            raise ValueError(f"variables refer to each other in a cycle: {path}")
        for name in referenced_names(variable.query):
            if name in variables:
                visit(variables[name], (*path, variable.name))
        ordered.append(variable)

    for variable in variables.values():
        visit(variable, ())
    return ordered


def referenced_names(sql: str) -> list[str]:
    return [next(g for g in (m[1], m[2], m[4]) if g) for m in VARIABLE_REGEX.finditer(sql)]


def interpolate(sql: str, variables: Mapping[str, Variable], selected: Mapping[str, Value]) -> str:
    """``sceneInterpolator`` with the plugin's format function as the default format."""

    def substitute(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[4]
        if match[5]:
            raise Unsupported(f"field path in {match[0]!r}")
        fmt = match[3] or match[6]
        variable = variables.get(name)
        if variable is None or name not in selected:
            if name in BACKEND_MACROS:  # no variable of Grafana's: left to the plugin's backend
                return match[0]
            if name.startswith("__"):
                raise Unsupported(f"macro or global variable {match[0]!r}")
            return match[0]
        value = variable.value_of(selected[name])
        if fmt is None:
            return plugin_format(value)
        if fmt not in FORMATS:
            raise Unsupported(f"format {fmt!r} in {match[0]!r}")
        return FORMATS[fmt](value)

    return VARIABLE_REGEX.sub(substitute, sql)


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time range as the backend gets it (``sqlutil.Query.TimeRange``)."""

    start: datetime.datetime
    end: datetime.datetime

    @classmethod
    def last(cls, duration: datetime.timedelta) -> TimeRange:
        end = datetime.datetime.now(datetime.UTC)
        return cls(end - duration, end)


DEFAULT_RANGE = datetime.timedelta(days=30)

# macros.go ``TimeFilter``: ``col >= toDateTime(<from unix s>) AND col <= toDateTime(<to>)``;
# the argument is what stands between the parentheses, trimmed (macropro splits at commas).
TIME_FILTER = re.compile(r"\$__timeFilter\(([^(),]*)\)")


def expand(
    sql: str,
    variables: Mapping[str, Variable],
    selected: Mapping[str, Value],
    time_range: TimeRange | None = None,
) -> str:
    """A panel or variable query as the ClickHouse server receives it.

    ``applyTemplateVariables`` first applies ``$__conditionalAll`` (not used by the
    dashboards: refused), then the template variables; no ad hoc filter variable
    exists, so none is added. The backend then runs ``macros.Interpolate``
    (``pkg/macros/macros.go``: grafana/macropro, after stripping ``--`` and ``/* */``
    comments outside ``'...'``/``"..."`` literals, backslash escapes understood). Of its
    macros only ``$__timeFilter(col)`` is implemented (the default range: the last 30
    days, the dashboards' own default); any other ``$__`` left over, or a comment in the
    query text, raises.
    """
    if "$__conditionalAll" in sql:
        raise Unsupported("$__conditionalAll")
    if re.search(r"--|/\*", _without_literals(sql)):
        raise Unsupported("an SQL comment (the plugin's backend strips them)")
    expanded = interpolate(sql, variables, selected)
    span = time_range or TimeRange.last(DEFAULT_RANGE)

    def time_filter(match: re.Match[str]) -> str:
        column = match[1].strip()
        start, end = int(span.start.timestamp()), int(span.end.timestamp())
        return f"{column} >= toDateTime({start}) AND {column} <= toDateTime({end})"

    expanded = TIME_FILTER.sub(time_filter, expanded)
    leftover = re.search(r"\$__\w+", _without_literals(expanded))
    if leftover:
        raise Unsupported(f"backend macro {leftover[0]!r}")
    return expanded


def _without_literals(sql: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", sql)


def panel_queries(dashboard: Mapping[str, Any]) -> Iterable[tuple[Mapping[str, Any], str]]:
    """(panel, rawSql) of every target of every panel, rows' panels included."""

    def panels(items: Sequence[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        if panel.get("repeat"):
            raise Unsupported(f"repeated panel {panel.get('title')!r}")
        for target in panel.get("targets", []):
            if target.get("editorType", "sql") != "sql":
                raise Unsupported(f"panel {panel.get('title')!r}: a builder query")
            yield panel, target["rawSql"]
