"""The HTTP interface on the wire: headers, status codes, compression, limits, credentials.

These talk raw HTTP (urllib) where the point is the wire: headers, status codes,
compression, the ways credentials arrive. What runstream adds around the server (the
lock, spool intake, its messages) is tested in ``tests/processors/store``.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import StreamFailureError
from support.store_server import (
    READONLY_PASSWORD,
    Server,
    http,
    server_env,
    start_server,
)

from .conftest import Target


def test_answers_carry_clickhouse_headers(served: Server) -> None:
    status, headers, body = http(served, "SELECT 1 AS x FORMAT JSONEachRow")
    assert (status, body) == (200, b'{"x":1}\n')
    assert headers["X-ClickHouse-Format"] == "JSONEachRow"
    assert headers["X-ClickHouse-Timezone"] == "UTC"
    assert headers["X-ClickHouse-Server-Display-Name"]
    assert headers["X-ClickHouse-Query-Id"]
    assert json.loads(headers["X-ClickHouse-Summary"])["read_rows"].isdigit()
    status, headers, _ = http(served, "SELECT 1", query_id="mine")
    assert headers["X-ClickHouse-Query-Id"] == "mine"


def test_errors_carry_code_header_status_and_body(served: Server) -> None:
    status, headers, body = http(served, "SELECT * FROM nowhere")
    assert status == 404
    assert headers["X-ClickHouse-Exception-Code"] == "60"
    text = body.decode()
    assert text.startswith("Code: 60. DB::Exception: ")
    assert "(UNKNOWN_TABLE) (version " in text


@pytest.mark.parametrize("how", ["basic", "headers", "args"])
def test_the_three_ways_to_send_credentials(served: Server, how: str) -> None:
    headers: dict[str, str] = {}
    if how == "basic":
        token = base64.b64encode(f"readonly:{READONLY_PASSWORD}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif how == "headers":
        headers.update({"X-ClickHouse-User": "readonly", "X-ClickHouse-Key": READONLY_PASSWORD})
    if how == "args":
        answer = http(
            served, "SELECT 1", anonymous=True, user="readonly", password=READONLY_PASSWORD
        )
    else:
        answer = http(served, "SELECT 1", headers=headers, anonymous=True)
    assert answer[2] == b"1\n"
    status, headers_out, _ = http(
        served,
        "SELECT 1",
        headers={"X-ClickHouse-User": "readonly", "X-ClickHouse-Key": "nope"},
        anonymous=True,
    )
    assert (status, headers_out["X-ClickHouse-Exception-Code"]) == (403, "516")


def test_missing_password_is_refused(served: Server) -> None:
    _, headers, _ = http(served, "SELECT 1", anonymous=True)
    assert headers["X-ClickHouse-Exception-Code"] == "516"


def test_get_implies_readonly_and_post_writes(served: Server) -> None:
    status, headers, body = http(served, "CREATE TABLE get_made (a UInt8) ENGINE = Memory")
    assert headers["X-ClickHouse-Exception-Code"] == "164"
    assert b"method GET implies readonly" in body
    status, _, _ = http(served, "CREATE TABLE post_made (a UInt8) ENGINE = Memory", body=b"")
    assert status == 200


def test_query_in_url_and_data_in_body(served: Server) -> None:
    http(served, body=b"CREATE TABLE url_body (a UInt32, s String) ENGINE = Memory")
    status, headers, _ = http(served, "INSERT INTO url_body FORMAT CSV", body=b"1,x\n2,y\n")
    assert status == 200
    assert json.loads(headers["X-ClickHouse-Summary"])["written_rows"] == "2"
    assert http(served, "INSERT INTO url_body VALUES", body=b"(3,'z')")[0] == 200
    gz = gzip.compress(b"INSERT INTO url_body FORMAT TSV\n4\tw\n")
    assert http(served, body=gz, headers={"Content-Encoding": "gzip"})[0] == 200
    assert http(served, "SELECT sum(a) FROM url_body")[2] == b"10\n"


def test_response_compression_on_request(served: Server) -> None:
    query = "SELECT number FROM numbers(1000)"
    _, headers, body = http(
        served, query, headers={"Accept-Encoding": "gzip"}, enable_http_compression="1"
    )
    assert headers.get("Content-Encoding") == "gzip"
    assert gzip.decompress(body).count(b"\n") == 1000
    _, headers, body = http(served, query, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in headers


def test_what_the_http_interface_refuses(served: Server) -> None:
    assert http(served, "SELECT 1; SELECT 2")[1]["X-ClickHouse-Exception-Code"] == "62"
    assert (
        http(served, "SELECT 1 INTO OUTFILE '/tmp/x'", body=b"")[1]["X-ClickHouse-Exception-Code"]
        == "358"
    )
    assert (
        http(
            served,
            "INSERT INTO t FROM INFILE '/etc/hostname' FORMAT LineAsString",
            body=b"",
        )[1]["X-ClickHouse-Exception-Code"]
        == "78"
    )
    status, headers, _ = http(served, "SELECT 1", compress="1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (501, "48")


def test_an_error_while_streaming_reaches_the_client(served: Server) -> None:
    target = Target("chdb_http", served.host, served.port)
    client = target.client()
    with (
        pytest.raises(StreamFailureError) as failed,
        client.query_rows_stream(
            "SELECT throwIf(number = 250000, 'boom') FROM numbers(300000)",
            settings={"max_block_size": 10000},
        ) as stream,
    ):
        for _ in stream:
            pass
    assert "boom" in str(failed.value)
    assert client.command("SELECT 1") == 1


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with small limits: 1 MiB bodies, 1 s queries, no spool intake."""
    server = start_server(
        tmp_path_factory.mktemp("strict") / "rs",
        "--max-body-mb",
        "1",
        "--max-query-seconds",
        "1",
        "--ingest-interval",
        "0",
    )
    yield server
    assert server.stop() == 0, server.output()


def test_body_size_limit(strict: Server) -> None:
    http(strict, body=b"CREATE TABLE big (s String) ENGINE = Memory")
    status, headers, _ = http(
        strict, "INSERT INTO big FORMAT LineAsString", body=b"x" * (2 * 1024 * 1024)
    )
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (413, "229")
    bomb = gzip.compress(b"INSERT INTO big FORMAT LineAsString\n" + b"y" * (3 * 1024 * 1024))
    status, headers, _ = http(strict, body=bomb, headers={"Content-Encoding": "gzip"})
    assert headers["X-ClickHouse-Exception-Code"] == "229"


def test_query_time_limit(strict: Server) -> None:
    status, headers, body = http(strict, "SELECT count() FROM numbers(100000000000)")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (408, "159")
    assert b"TIMEOUT_EXCEEDED" in body
    status, headers, _ = http(strict, "SELECT 1", max_execution_time="100")
    assert headers["X-ClickHouse-Exception-Code"] == "452"
    assert http(strict, "SELECT 1", max_execution_time="0.5")[0] == 200


def test_loopback_without_password_serves_default(tmp_path: Path) -> None:
    env = server_env(tmp_path / "rs")
    del env["RUNSTREAM_SERVER_PASSWORD"], env["RUNSTREAM_SERVER_READONLY_PASSWORD"]
    server = start_server(tmp_path / "rs", "--ingest-interval", "0", env=env)
    try:
        assert http(server, "SELECT 42", anonymous=True)[2] == b"42\n"
    finally:
        assert server.stop() == 0
