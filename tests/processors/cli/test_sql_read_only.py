"""``runstream sql`` reads only unless ``--write``, and runs one statement per call.

Every test runs on the embedded store and through a store server (the ``store``
fixture): the engine refuses writes in the ``readonly = 2`` session either way.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from runstream.settings import Settings
from runstream_processors.cli.main import cli
from runstream_processors.cli.sql import ONE_STATEMENT, WRITE_NOTICE, _statements_after_first
from runstream_processors.errors import QueryError
from support.runs import make_run


def sql(*args: str) -> Result:
    return CliRunner().invoke(cli, ["sql", *args])


def answer(query: str, *args: str) -> list[dict[str, object]]:
    result = sql(query, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def refused(result: Result, *words: str) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, QueryError), result.exception
    message = str(result.exception)
    assert "\n" not in message and all(word in message for word in words), message
    return message


def count(table: str) -> int:
    value = answer(f"SELECT count() AS n FROM {table}")[0]["n"]
    assert isinstance(value, int)
    return value


@pytest.fixture
def logged(store: Settings) -> str:
    return make_run("alpha", lr=0.1)


def test_drop_table_is_refused_and_the_table_stays(logged: str) -> None:
    before = count("runstream.params")
    assert before > 0
    message = refused(sql("DROP TABLE runstream.params"), "READONLY", "--write")
    assert "readonly mode" in message
    assert count("runstream.params") == before


def test_drop_database_is_refused(logged: str) -> None:
    refused(sql("DROP DATABASE runstream"), "READONLY")
    assert count("runstream.metrics") == 102


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE TABLE runstream.metrics",
        "ALTER TABLE runstream.metrics DELETE WHERE 1",
        "INSERT INTO runstream.summaries SELECT * FROM runstream.summaries",
        "CREATE TABLE default.scratch (x Int8) ENGINE = Memory",
        "RENAME TABLE runstream.metrics TO runstream.gone",
        "SET readonly = 0",
        "SELECT 1 SETTINGS readonly = 0",
    ],
)
def test_other_changes_are_refused_too(logged: str, statement: str) -> None:
    result = sql(statement)
    assert result.exit_code == 1 and "READONLY" in str(result.exception), result.output
    assert count("runstream.metrics") == 102
    assert answer("EXISTS TABLE default.scratch") == [{"result": 0}]


def test_several_statements_are_refused_and_none_runs(logged: str) -> None:
    for extra in ((), ("--write",)):
        result = sql("SELECT 1; DROP TABLE runstream.metrics", *extra)
        refused(result, ONE_STATEMENT)
        assert result.stdout == ""  # not even the first one's answer
    assert count("runstream.metrics") == 102
    # the engine's parser decides: quoted or commented semicolons and a trailing one are fine
    assert answer("SELECT ';' AS s -- ; DROP TABLE runstream.metrics\n;") == [{"s": ";"}]
    assert answer("SELECT $$a; b$$ AS s /* ; */") == [{"s": "a; b"}]


def test_write_allows_changes_and_says_so(logged: str) -> None:
    created = sql("CREATE TABLE default.scratch (x Int32) ENGINE = MergeTree ORDER BY x", "--write")
    assert created.exit_code == 0, created.output
    assert WRITE_NOTICE in created.stderr
    inserted = sql("INSERT INTO default.scratch VALUES (1), (2), (3)", "--write")
    assert inserted.exit_code == 0, inserted.output
    assert WRITE_NOTICE in inserted.stderr
    assert answer("SELECT sum(x) AS total FROM default.scratch") == [{"total": 6}]
    # inline VALUES data ends at ';' for the embedded engine: what follows is refused
    refused(sql("INSERT INTO default.scratch VALUES (4); DROP TABLE default.scratch", "--write"))
    refused(sql("INSERT INTO default.scratch VALUES (4);\nDROP TABLE runstream.metrics"))
    assert answer("SELECT sum(x) AS total FROM default.scratch") == [{"total": 6}]
    assert count("runstream.metrics") == 102
    dropped = sql("DROP TABLE default.scratch", "--write")
    assert dropped.exit_code == 0, dropped.output
    assert answer("EXISTS TABLE default.scratch") == [{"result": 0}]


def test_select_still_answers_in_json_and_csv(logged: str) -> None:
    query = (
        "SELECT name, count() AS points FROM runstream.metrics "
        "JOIN runstream.runs USING (run_id) GROUP BY name"
    )
    assert answer(query) == [{"name": "alpha", "points": 102}]
    as_csv = sql(query, "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert list(csv.DictReader(io.StringIO(as_csv.stdout))) == [{"name": "alpha", "points": "102"}]
    assert answer("SELECT 1 AS one SETTINGS max_threads = 1") == [{"one": 1}]


def test_refusals_are_one_line_without_a_traceback(logged: str) -> None:
    executable = Path(sys.executable).with_name("runstream")
    for query in ("DROP TABLE runstream.params", "SELECT 1; DROP TABLE runstream.params"):
        done = subprocess.run(
            [str(executable), "sql", query],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=120,
        )
        assert done.returncode == 1 and done.stdout == "", done
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "more"),
    [
        ("INSERT INTO t VALUES (1)", False),
        ("INSERT INTO t VALUES (1);", False),
        ("INSERT INTO t VALUES (1); -- done\n", False),
        ("INSERT INTO t VALUES ('a;b'), ('c''; d'), ('e\\'; f')", False),
        ("INSERT INTO t VALUES ($$;x$$) /* ; DROP */", False),
        ("INSERT INTO t VALUES (1); DROP TABLE t", True),
        ("INSERT INTO t VALUES (1);;\nSELECT 1", True),
        ("INSERT INTO t VALUES ('x');#x\nDROP TABLE t", True),
    ],
)
def test_the_scanner_for_inline_values_data(text: str, more: bool) -> None:
    assert _statements_after_first(text) is more
