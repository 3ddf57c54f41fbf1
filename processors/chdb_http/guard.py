"""What a query may touch: checked on the engine's own parse of it, before it runs.

chdb has no access control: ``file()``, ``url()``, ``s3()``, ``remote()``... read and
write the host and the network as the server's own user, whatever ``readonly`` says.
So before the real query, the server asks the engine to parse it (``EXPLAIN AST``,
about a millisecond, nothing runs) and walks the tree:

* every function and table function (in FROM, in expressions, in CTEs, in ``INSERT
  INTO FUNCTION``, in ``CREATE TABLE ... AS``, nested in another one) whose name is a
  table function must be on the allow-list (:data:`DEFAULT_TABLE_FUNCTIONS`, plus
  what the operator enabled for that user); ``file`` is refused as a scalar too;
* a table's or database's ENGINE must be one that keeps its data in the store
  (:data:`ALLOWED_ENGINES`); a dictionary's SOURCE counts as the table function it
  reaches (``file``, ``url``, ``remote``...);
* BACKUP/RESTORE and ATTACH (which name host paths) are refused, and so are ``SYSTEM
  SHUTDOWN``/``SYSTEM KILL`` (they would stop the server's own engine);
* accounts that are not writers may not KILL queries, run SYSTEM commands, list the
  process list, or read ``system`` tables other than the catalog ones
  (:data:`READER_SYSTEM_TABLES`).

Refusals are ACCESS_DENIED (497), as ClickHouse answers a user without the grant.
``INTO OUTFILE`` and ``FROM INFILE`` are refused earlier, by the SQL router.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from . import errors, query_settings, sql

# Table functions that read nothing but their arguments, the store or the query's data.
DEFAULT_TABLE_FUNCTIONS = frozenset(
    {
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "primes",
        "generaterandom",
        "generate_series",
        "generateseries",
        "values",
        "sqlstandardvalues",
        "null",
        "view",
        "format",
        "input",
        "loop",
    }
)
# Engines whose data lives in the store (tables) or that hold none of their own.
ALLOWED_ENGINES = frozenset(
    {
        "mergetree",
        "replacingmergetree",
        "summingmergetree",
        "aggregatingmergetree",
        "collapsingmergetree",
        "versionedcollapsingmergetree",
        "graphitemergetree",
        "coalescingmergetree",
        "memory",
        "null",
        "log",
        "tinylog",
        "stripelog",
        "set",
        "join",
        "buffer",
        "generaterandom",
        "view",
        "materializedview",
        # database engines
        "atomic",
        "ordinary",
        "lazy",
    }
)
# A dictionary SOURCE reaches what this table function would.
DICTIONARY_SOURCES = {
    "http": "url",
    "clickhouse": "remote",
    "executable_pool": "executable",
    "yamlregexptree": "file",
    "regexp_tree": "file",
}
# Table functions whose first argument is a host path (checked when enabled).
PATH_FUNCTIONS = frozenset({"file", "filecluster"})
# Functions that are not table functions but read the host.
HOST_FUNCTIONS = frozenset({"file", "catboostevaluate", "modelevaluate"})
# system tables any account may read: the catalog, nothing about other users' work.
READER_SYSTEM_TABLES = frozenset(
    {
        "one",
        "numbers",
        "numbers_mt",
        "zeros",
        "zeros_mt",
        "databases",
        "tables",
        "columns",
        "functions",
        "table_functions",
        "table_engines",
        "database_engines",
        "formats",
        "data_type_families",
        "aggregate_function_combinators",
        "settings",
        "time_zones",
        "collations",
        "build_options",
        "contributors",
        "licenses",
        "keywords",
    }
)
WRITER_ONLY_QUERIES = {
    "KillQueryQuery": "KILL QUERY",
    "ShowProcesslistQuery": "SHOW PROCESSLIST",
    "SYSTEM": "SYSTEM",
}
REFUSED_QUERIES = {
    "BackupQuery": "BACKUP and RESTORE (they read and write host paths)",
    "AttachQuery": "ATTACH (it can name host paths)",
}
# Queries whose parse has a literal right under the root only for INTO OUTFILE.
OUTPUT_QUERIES = frozenset(
    {"SelectWithUnionQuery", "ShowTables", "DescribeQuery", "ShowCreateTableQuery", "Explain"}
)
REFUSED_SYSTEM = frozenset({"SHUTDOWN", "KILL"})

_LINE = re.compile(r"^( *)(\S+)(?: +(.*?))?(?: \(children \d+\))?$")
_ALIAS = re.compile(r" \(alias [^)]*\)$")


@dataclass(frozen=True)
class Policy:
    """What one account may reach; ``writer`` False: a reader (dashboard or readonly)."""

    user: str
    writer: bool
    table_functions: frozenset[str] = DEFAULT_TABLE_FUNCTIONS
    may_set: Callable[[str], bool] | None = None
    """Which settings the query text may change (None: any, within the engine's limits)."""
    protected: tuple[str, ...] = ()
    """Paths a writer with ``file`` enabled still may not name: the store, the users file."""


@dataclass(frozen=True)
class Catalog:
    """What the engine knows by name, learnt once when the store opens."""

    table_functions: frozenset[str]
    engines: frozenset[str]

    @classmethod
    def of(cls, table_functions: Iterable[str], engines: Iterable[str]) -> Catalog:
        return cls(
            frozenset(name.lower() for name in table_functions),
            frozenset(name.lower() for name in engines),
        )


@dataclass(frozen=True)
class Node:
    depth: int
    kind: str
    label: str
    parent: str


def nodes(ast: str) -> list[Node]:
    """The lines of ``EXPLAIN AST``'s answer as nodes with their parent's kind."""
    found: list[Node] = []
    stack: list[tuple[int, str]] = []
    for line in ast.splitlines():
        match = _LINE.match(line.rstrip())
        if not match:
            continue
        depth = len(match[1])
        kind = match[2]
        label = _ALIAS.sub("", (match[3] or "").strip())
        if kind == "Storage" and label.startswith("definition"):
            kind, label = "Storage definition", ""
        elif kind == "Dictionary":
            kind, label = f"Dictionary {label.split(' ')[0]}", ""
        elif kind == "Columns" and label.startswith("definition"):
            kind, label = "Columns definition", ""
        while stack and stack[-1][0] >= depth:
            stack.pop()
        found.append(Node(depth, kind, label, stack[-1][1] if stack else ""))
        stack.append((depth, kind))
    return found


def check(
    ast: str,
    policy: Policy,
    catalog: Catalog,
    text: bytes,
    database: str | None = None,
) -> None:
    """Raise ACCESS_DENIED when the query parsed as ``ast`` reaches what ``policy`` forbids."""
    tree = nodes(ast)
    if not tree:
        raise _denied(policy, "a query the server cannot check")
    root = tree[0].kind
    if root in REFUSED_QUERIES:
        raise _denied(policy, REFUSED_QUERIES[root])
    if root == "SYSTEM":
        words = [token.upper for token in sql.tokens(text, complete=True)][:3]
        if len(words) > 1 and words[1] in REFUSED_SYSTEM:
            raise _denied(policy, f"SYSTEM {words[1]} (it would stop the server's engine)")
    if root in OUTPUT_QUERIES and any(n.depth == 1 and n.kind == "Literal" for n in tree):
        raise errors.ClickHouseError(errors.INTO_OUTFILE_NOT_ALLOWED, "INTO OUTFILE is not allowed")
    if not policy.writer and root in WRITER_ONLY_QUERIES:
        raise _denied(policy, WRITER_ONLY_QUERIES[root] + " (a writer's command)")
    if policy.may_set is not None:
        _settings(policy, policy.may_set, tree, text)
    first_in_storage: set[int] = set()
    for index, node in enumerate(tree):
        if node.kind == "Storage definition" and index + 1 < len(tree):
            first_in_storage.add(index + 1)
    for index, node in enumerate(tree):
        name = node.label.split(" ")[0].strip("`") if node.label else ""
        lowered = name.lower()
        if node.kind == "Function":
            if index in first_in_storage:
                if lowered in ALLOWED_ENGINES:
                    continue
                if lowered in catalog.engines:
                    raise _denied(policy, f"ENGINE = {name} (it keeps data outside the store)")
            if lowered in catalog.table_functions or lowered in HOST_FUNCTIONS:
                _table_function(policy, name)
                if lowered in PATH_FUNCTIONS:
                    _path(policy, name, tree, index)
        elif node.kind == "FunctionWithKeyValueArguments" and node.parent.startswith(
            "Dictionary definition"
        ):
            if lowered != "null":
                _table_function(policy, DICTIONARY_SOURCES.get(lowered, lowered), f"SOURCE({name})")
        elif node.kind in ("TableIdentifier", "Identifier") and not policy.writer:
            _system_table(policy, name, node.kind == "TableIdentifier", database)


def _settings(
    policy: Policy, may_set: Callable[[str], bool], tree: list[Node], text: bytes
) -> None:
    names, clauses = query_settings.changed(text)
    if clauses != sum(1 for node in tree if node.kind == "Set"):
        raise errors.ClickHouseError(
            errors.READONLY,
            f"{policy.user}: the SETTINGS of this query cannot be checked "
            "(a dashboard account may change only the settings on its list)",
        )
    for name in names:
        if not may_set(name):
            raise errors.ClickHouseError(
                errors.READONLY,
                f"Cannot modify '{name}' setting in readonly mode "
                f"({policy.user} is a dashboard account)",
            )


def _path(policy: Policy, name: str, tree: list[Node], index: int) -> None:
    """An enabled ``file``'s path: a plain absolute path outside the protected ones."""
    depth = tree[index].depth
    literal = next(
        (
            node
            for node in tree[index + 1 : index + 4]
            if node.depth == depth + 2 and node.kind == "Literal"
        ),
        None,
    )
    text = literal.label if literal is not None else ""
    if not (len(text) >= 2 and text[0] == text[-1] == "'"):
        raise _denied(policy, f"{name}() with a path that is not a string literal")
    path = _unquoted(text[1:-1])
    if path is None:
        raise _denied(policy, f"{name}() with control characters in its path")
    if not os.path.isabs(path) or any(char in path for char in "*?{}[]"):
        raise _denied(policy, f"{name}() with a relative path or a glob")
    real = os.path.realpath(path)
    for protected in policy.protected:
        root = os.path.realpath(protected)
        if real == root or real.startswith(root.rstrip("/") + "/"):
            raise _denied(policy, f"{name}('{path}'): the server's own files")


def _unquoted(body: str) -> str | None:
    """A string literal's value as the AST dump escapes it (None: it has other escapes)."""
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            following = body[index + 1 : index + 2]
            if following not in ("\\", "'"):
                return None
            out.append(following)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _table_function(policy: Policy, name: str, what: str | None = None) -> None:
    if name.lower() in policy.table_functions:
        return
    allowed = ", ".join(sorted(policy.table_functions))
    raise _denied(
        policy,
        f"{what or name + '()'}: it reaches outside the store; the table functions allowed "
        f"to {policy.user} are {allowed}"
        + ("" if not policy.writer else " (allow_table_functions in the users file adds more)"),
    )


def _system_table(policy: Policy, name: str, is_table: bool, database: str | None) -> None:
    parts = name.split(".")
    if len(parts) == 2:
        db, table = parts
    elif len(parts) == 1 and is_table and database:
        db, table = database, parts[0]
    else:
        return
    if db.lower() == "system" and table.lower() not in READER_SYSTEM_TABLES:
        raise _denied(
            policy,
            f"system.{table} (it shows other users' work; readers see "
            + ", ".join(f"system.{t}" for t in sorted(READER_SYSTEM_TABLES))
            + ")",
        )


def _denied(policy: Policy, what: str) -> errors.ClickHouseError:
    return errors.ClickHouseError(
        errors.ACCESS_DENIED, f"{policy.user}: Not enough privileges for {what}"
    )


def policy_for(
    user: str,
    readonly: int,
    extra: Iterable[str] = (),
    protected: Iterable[str] = (),
    may_set: Callable[[str], bool] | None = None,
) -> Policy:
    """The policy of an account: writers get the defaults plus what the operator enabled."""
    if readonly:
        return Policy(user, writer=False, may_set=may_set if readonly == 2 else None)
    return Policy(
        user,
        writer=True,
        table_functions=DEFAULT_TABLE_FUNCTIONS | {n.lower() for n in extra},
        protected=tuple(protected),
    )
