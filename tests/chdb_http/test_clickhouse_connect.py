"""clickhouse-connect's own API against the server, and the same against real ClickHouse.

Every test takes ``target``: our chdb_http server always, and the ClickHouse
server image where Docker answers, so a difference between the two shows up as a
test that passes on one and fails on the other.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from .conftest import Target

COLUMNS = ["id", "name", "at", "score", "tags", "split"]
SCHEMA = (
    "id UInt64, name String, at DateTime64(3, 'UTC'), score Nullable(Float64), "
    "tags Array(String), split LowCardinality(String)"
)


@pytest.fixture
def client(target: Target) -> Iterator[Any]:
    client = target.client()
    yield client
    client.close()


@pytest.fixture
def table(client: Any) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE TABLE {name} ({SCHEMA}) ENGINE = MergeTree ORDER BY id")
    yield name
    client.command(f"DROP TABLE IF EXISTS {name}")


def rows(count: int, start: int = 0) -> list[list[Any]]:
    base = datetime.datetime(2026, 1, 1, 12, 0, 0)
    return [
        [
            i,
            f"n{i}",
            base + datetime.timedelta(seconds=i),
            None if i % 3 == 0 else i / 2,
            ["a", str(i % 2)],
            "train" if i % 2 else "eval",
        ]
        for i in range(start, start + count)
    ]


def test_command_returns_scalars_and_summaries(client: Any) -> None:
    assert client.command("SELECT 1") == 1
    assert client.command("SELECT 'a', 'b'") == ["a", "b"]
    assert client.command("SELECT 'x' WHERE 0") == ""
    assert client.server_version
    assert client.server_tz is not None


def test_query_round_trips_types(client: Any, table: str) -> None:
    client.insert(table, rows(5), column_names=COLUMNS)
    result = client.query(f"SELECT * FROM {table} ORDER BY id")
    assert result.column_names == tuple(COLUMNS)
    assert result.result_rows[1] == (
        1,
        "n1",
        datetime.datetime(2026, 1, 1, 12, 0, 1),
        0.5,
        ["a", "1"],
        "train",
    )
    assert result.result_rows[0][3] is None


def test_query_df_and_arrow(client: Any, table: str) -> None:
    client.insert(table, rows(10), column_names=COLUMNS)
    frame = client.query_df(f"SELECT id, score, split FROM {table} ORDER BY id")
    assert list(frame["id"]) == list(range(10))
    assert frame["score"].isna().sum() == 4
    arrow = client.query_arrow(f"SELECT id, name FROM {table} ORDER BY id")
    assert arrow.num_rows == 10
    assert arrow.column("name").to_pylist()[:2] == ["n0", "n1"]


def test_insert_df_and_arrow(client: Any, table: str) -> None:
    frame = pd.DataFrame(
        {
            "id": [100, 101],
            "name": ["p", "q"],
            "at": [pd.Timestamp("2026-02-01 00:00:00")] * 2,
            "score": [1.0, None],
            "tags": [["x"], []],
            "split": ["eval", "eval"],
        }
    )
    client.insert_df(table, frame)
    arrow = pa.table(
        {
            "id": pa.array([200], pa.uint64()),
            "name": ["r"],
            "at": pa.array([datetime.datetime(2026, 3, 1)], pa.timestamp("ms")),
            "score": pa.array([2.5]),
            "tags": [["y", "z"]],
            "split": ["train"],
        }
    )
    client.insert_arrow(table, arrow)
    got = client.query(f"SELECT id, tags, score FROM {table} ORDER BY id").result_rows
    assert got == [(100, ["x"], 1.0), (101, [], None), (200, ["y", "z"], 2.5)]


def test_large_insert_and_native_result(client: Any, table: str) -> None:
    client.insert(table, rows(50_000), column_names=COLUMNS)
    assert client.command(f"SELECT count() FROM {table}") == 50_000
    result = client.query(f"SELECT id, name FROM {table} ORDER BY id")
    assert len(result.result_rows) == 50_000
    assert result.result_rows[-1] == (49_999, "n49999")


def test_nested_low_cardinality_columns_read_back_intact(client: Any) -> None:
    """Native puts every serialization prefix of a nested type before its data: an
    ``Array(LowCardinality(String))`` starts with the dictionary's key version even when
    every array is empty. The columns after it must still read back intact."""
    result = client.query(
        "SELECT number AS n, "
        "CAST(arrayMap(i -> toString(i), range(number % 3)) AS Array(LowCardinality(String)))"
        " AS tags, "
        "CAST(map('k', toString(number)) AS Map(String, LowCardinality(String))) AS labels, "
        "CAST((toString(number % 2), number) AS Tuple(LowCardinality(String), UInt64)) AS pair, "
        "CAST(if(number % 2, NULL, toString(number)) AS LowCardinality(Nullable(String)))"
        " AS maybe, "
        "toString(number * 10) AS after "
        "FROM numbers(4)"
    )
    assert result.result_rows == [
        (0, [], {"k": "0"}, ("0", 0), "0", "0"),
        (1, ["0"], {"k": "1"}, ("1", 1), None, "10"),
        (2, ["0", "1"], {"k": "2"}, ("0", 2), "2", "20"),
        (3, [], {"k": "3"}, ("1", 3), None, "30"),
    ]
    empty = client.query(
        "SELECT CAST([] AS Array(LowCardinality(String))) AS tags, 'after' AS after"
    )
    assert empty.result_rows == [([], "after")]


def test_server_side_parameters(client: Any) -> None:
    result = client.query(
        "SELECT {n:UInt32} + 1 AS n, {s:String} AS s, {a:Array(String)} AS a",
        parameters={"n": 41, "s": "it's ok", "a": ["x", "y"]},
    )
    assert result.result_rows == [(42, "it's ok", ["x", "y"])]
    long_list = list(range(5_000))  # long enough to travel as a multipart form
    assert client.query(
        "SELECT length({ids:Array(UInt32)})", parameters={"ids": long_list}
    ).result_rows == [(5_000,)]


def test_streaming(client: Any) -> None:
    with client.query_rows_stream("SELECT number, toString(number) FROM numbers(300000)") as stream:
        assert sum(1 for _ in stream) == 300_000
    with client.query_column_block_stream("SELECT number FROM numbers(300000)") as stream:
        assert sum(len(block[0]) for block in stream) == 300_000
    with client.query_arrow_stream("SELECT number FROM numbers(300000)") as stream:
        assert sum(batch.num_rows for batch in stream) == 300_000


@pytest.mark.parametrize("compress", ["gzip", "zstd", "lz4", False])
def test_compressed_inserts_and_answers(target: Target, compress: Any) -> None:
    client = target.client(compress=compress)
    name = f"c_{uuid.uuid4().hex[:10]}"
    try:
        client.command(f"CREATE TABLE {name} ({SCHEMA}) ENGINE = MergeTree ORDER BY id")
        client.insert(name, rows(20_000), column_names=COLUMNS)
        assert client.query(f"SELECT sum(id) FROM {name}").result_rows == [(199_990_000,)]
    finally:
        client.command(f"DROP TABLE IF EXISTS {name}")
        client.close()


@pytest.mark.parametrize("fmt", ["CSV", "JSONEachRow", "TabSeparated"])
def test_raw_insert_text_formats(client: Any, table: str, fmt: str) -> None:
    lines = {
        "CSV": "1,a,2026-01-01 00:00:00.000,1.5,\"['x']\",eval\n"
        "2,b,2026-01-01 00:00:01.000,\\N,[],train\n",
        "JSONEachRow": '{"id":1,"name":"a","at":"2026-01-01 00:00:00","score":1.5,"tags":["x"],'
        '"split":"eval"}\n{"id":2,"name":"b","at":"2026-01-01 00:00:01",'
        '"score":null,"tags":[],"split":"train"}\n',
        "TabSeparated": "1\ta\t2026-01-01 00:00:00.000\t1.5\t['x']\teval\n"
        "2\tb\t2026-01-01 00:00:01.000\t\\N\t[]\ttrain\n",
    }[fmt]
    client.raw_insert(table, COLUMNS, lines, fmt=fmt)
    assert client.query(f"SELECT id, name, score FROM {table} ORDER BY id").result_rows == [
        (1, "a", 1.5),
        (2, "b", None),
    ]


@pytest.mark.parametrize("fmt", ["Native", "RowBinary", "Arrow", "Parquet"])
def test_raw_insert_binary_formats(client: Any, table: str, fmt: str) -> None:
    client.insert(table, rows(100), column_names=COLUMNS)
    data = client.raw_query(f"SELECT * FROM {table} ORDER BY id", fmt=fmt)
    client.command(f"TRUNCATE TABLE {table}")
    client.raw_insert(table, COLUMNS, data, fmt=fmt)
    assert client.query(f"SELECT count(), sum(id) FROM {table}").result_rows == [(100, 4950)]


@pytest.mark.parametrize(
    "fmt",
    [
        "Native",
        "RowBinaryWithNamesAndTypes",
        "Arrow",
        "ArrowStream",
        "Parquet",
        "JSON",
        "JSONEachRow",
        "JSONCompact",
        "CSVWithNames",
        "TSVWithNamesAndTypes",
    ],
)
def test_output_formats_match_the_engine(client: Any, fmt: str) -> None:
    query = "SELECT number AS n, toString(number) AS s FROM numbers(1000)"
    data = client.raw_query(query, fmt=fmt)
    assert data
    if fmt == "CSVWithNames":
        assert data.splitlines()[:2] == [b'"n","s"', b'0,"0"']
    if fmt in ("Arrow", "ArrowStream", "Parquet"):
        import io

        import pyarrow.ipc
        import pyarrow.parquet

        table = {
            "Arrow": lambda b: pyarrow.ipc.open_file(b).read_all(),
            "ArrowStream": lambda b: pyarrow.ipc.open_stream(b).read_all(),
            "Parquet": lambda b: pyarrow.parquet.read_table(io.BytesIO(b)),
        }[fmt](data)
        assert table.num_rows == 1000


def test_bad_sql_raises_database_error(client: Any) -> None:
    with pytest.raises(DatabaseError) as syntax:
        client.query("SELEC 1")
    assert syntax.value.code == 62
    assert "SYNTAX_ERROR" in str(syntax.value)
    with pytest.raises(DatabaseError) as unknown:
        client.query("SELECT * FROM no_such_table_anywhere")
    assert unknown.value.code == 60
    assert "UNKNOWN_TABLE" in str(unknown.value)


def test_readonly_user_reads_but_cannot_write(target: Target, client: Any, table: str) -> None:
    client.insert(table, rows(3), column_names=COLUMNS)
    reader = target.client(readonly=True)
    try:
        assert reader.command(f"SELECT count() FROM {table}") == 3
        assert reader.command(f"EXISTS TABLE {table}") == 1
        assert table in reader.command("SHOW TABLES")
        with pytest.raises(DatabaseError) as insert:
            reader.insert(table, rows(1, 10), column_names=COLUMNS)
        assert insert.value.code == 164
        assert "READONLY" in str(insert.value)
        with pytest.raises(DatabaseError) as create:
            reader.command("CREATE TABLE nope_ro (a UInt8) ENGINE = Memory")
        assert create.value.code == 164
    finally:
        reader.close()
    assert client.command(f"SELECT count() FROM {table}") == 3


def test_wrong_password_is_refused(target: Target) -> None:
    import clickhouse_connect

    with pytest.raises(DatabaseError) as refused:
        clickhouse_connect.get_client(
            host=target.host, port=target.port, username="default", password="wrong"
        )
    assert refused.value.code == 516
    assert "AUTHENTICATION_FAILED" in str(refused.value)
