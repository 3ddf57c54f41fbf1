"""The SQL router reads what ClickHouse's lexer reads (comments, parenthesised unions)."""

from __future__ import annotations

from chdb_http import sql


def test_a_parenthesised_union_is_a_query() -> None:
    statement = sql.analyze(b"(SELECT 1) UNION ALL (SELECT 2) FORMAT JSON")
    assert (statement.keyword, statement.output_format) == ("(", "JSON")


def test_double_slash_comments_hide_what_they_say() -> None:
    statement = sql.analyze(b"SELECT 1 // don't; INTO OUTFILE 'x'\nFORMAT JSONEachRow")
    assert statement.keyword == "SELECT"
    assert statement.output_format == "JSONEachRow"
    assert not statement.multi
    assert not statement.outfile


def test_a_parameter_name_with_dollars_is_not_a_heredoc() -> None:
    statement = sql.analyze(b"SELECT {$x$:Int32} INTO OUTFILE 'x'")
    assert statement.outfile
    assert sql.analyze(b"SELECT {$x$:Int32} FORMAT JSON").output_format == "JSON"
    assert sql.analyze(b"SELECT $tag$ it's ; $tag$ FORMAT CSV").output_format == "CSV"
    assert not sql.analyze(b"SELECT $tag$ it's ; $tag$").multi


def test_without_format() -> None:
    assert sql.without_format(b"SELECT (1) FORMAT Native SETTINGS a=1;") == b"SELECT (1) "
    assert sql.without_format(b"SELECT format('{}', 1)") == b"SELECT format('{}', 1)"


def test_settings_a_query_changes() -> None:
    from chdb_http.query_settings import changed

    assert changed(b"SELECT 1 SETTINGS a = 1, b = 'x' FORMAT JSON") == (["a", "b"], 1)
    assert changed(b"SET a = [1, 2], `b` = -1") == (["a", "b"], 1)
    assert changed(b"SELECT * FROM (SELECT 1 SETTINGS a = 1) SETTINGS b = {'k': 1}") == (
        ["a", "b"],
        2,
    )
    assert changed(b"SELECT settings FROM t WHERE settings = 1") == ([], 0)
