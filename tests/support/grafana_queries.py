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
- Values (``packages/scenes/src/variables/variants/MultiValueVariable.ts``): a query
  variable's options come from its query, first column the value, second the text
  (``CHDatasource.ts`` ``metricFindQuery``); "All" without an ``allValue`` is the list of
  every option's value; a value set by the URL survives the first validation
  (``skipNextValidation``), so any string can reach a query.
"""

from __future__ import annotations

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
        if entry["type"] not in ("query", "datasource"):
            raise Unsupported(f"variable {entry['name']!r} of type {entry['type']!r}")
        if entry.get("regex"):
            raise Unsupported(f"variable {entry['name']!r}: a regex filter")
        if entry.get("sort"):
            raise Unsupported(f"variable {entry['name']!r}: sort {entry['sort']}")
        return cls(
            name=entry["name"],
            type=entry["type"],
            query=entry.get("query") or "" if entry["type"] == "query" else "",
            multi=bool(entry.get("multi")),
            include_all=bool(entry.get("includeAll")),
            all_value=entry.get("allValue") or None,
        )

    def value_of(self, selected: Value) -> Value:
        """``MultiValueVariable.getValue``: All is every option's value (no allValue here)."""
        if selected == ALL or (isinstance(selected, list) and selected[:1] == [ALL]):
            if self.all_value is not None:
                raise Unsupported(f"variable {self.name!r}: a custom all value")
            return [value for value, _ in self.options]
        return selected


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


def expand(sql: str, variables: Mapping[str, Variable], selected: Mapping[str, Value]) -> str:
    """A panel or variable query as the ClickHouse server receives it.

    ``applyTemplateVariables`` first applies ``$__conditionalAll`` (not used by the
    dashboards: refused), then the template variables; no ad hoc filter variable
    exists, so none is added. The backend then runs ``macros.Interpolate``
    (``pkg/macros/macros.go``: grafana/macropro with ``$__timeFilter`` and the like,
    after stripping ``--`` and ``/* */`` comments outside ``'...'``/``"..."`` literals,
    backslash escapes understood). Neither is used: a ``$__`` left over, or a comment
    in the query text, raises; without them that step leaves the SQL as it is.
    """
    if "$__conditionalAll" in sql:
        raise Unsupported("$__conditionalAll")
    if re.search(r"--|/\*", _without_literals(sql)):
        raise Unsupported("an SQL comment (the plugin's backend strips them)")
    expanded = interpolate(sql, variables, selected)
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
