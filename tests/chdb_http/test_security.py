"""The attacks of the "security of the store's owner" issue, run against a real server.

One server, started as ``runstream store serve`` with a users file: ``default`` (a
writer), ``grafana`` (``readonly = 2``, a dashboard account), ``viewer``
(``readonly = 1``) and ``fetcher`` (a writer the operator let use ``url``), and small
limits so that every limit can be hit quickly. Each attack must be refused with
ClickHouse's code, legitimate queries must keep working and the server must stay up.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from support.store_server import Server, http, server_env, start_server

PASSWORDS = {
    "default": "w-secret-1",
    "grafana": "g-secret-2",
    "viewer": "v-secret-3",
    "fetcher": "f-secret-4",
    "filer": "fi-secret-5",
}
USERS = f"""
[users.default]
password = "{PASSWORDS["default"]}"
[users.grafana]
password = "{PASSWORDS["grafana"]}"
readonly = 2
[users.viewer]
password = "{PASSWORDS["viewer"]}"
role = "readonly"
[users.fetcher]
password = "{PASSWORDS["fetcher"]}"
allow_table_functions = ["url"]
[users.filer]
password = "{PASSWORDS["filer"]}"
allow_table_functions = ["file"]
"""
MAX_QUERY_SECONDS = 3


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.toml"
    path.write_text(USERS)
    return path


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, users_file: Path) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("guarded") / "rs"
    env = server_env(root)
    del env["RUNSTREAM_SERVER_PASSWORD"], env["RUNSTREAM_SERVER_READONLY_PASSWORD"]
    server = start_server(
        root,
        "--users-file",
        str(users_file),
        "--ingest-interval",
        "0",
        "--max-query-seconds",
        str(MAX_QUERY_SECONDS),
        "--max-query-memory-mb",
        "256",
        "--max-server-memory-mb",
        "1024",
        "--max-threads",
        "2",
        "--max-result-mb",
        "8",
        "--max-concurrent-queries",
        "2",
        "--queue-wait-seconds",
        "0.5",
        env=env,
    )
    yield server
    assert server.stop() == 0, server.output()
    log = server.output()
    for password in PASSWORDS.values():
        assert password not in log


def ask(server: Server, user: str, query: str, post: bool = False, **args: str) -> Any:
    """(status, exception code or None, body) of one request as ``user``."""
    status, headers, body = http(
        server,
        query,
        body=b"" if post else None,
        anonymous=True,
        user=user,
        password=PASSWORDS[user],
        **args,
    )
    return status, headers.get("X-ClickHouse-Exception-Code"), body


def code(server: Server, user: str, query: str, post: bool = True, **args: str) -> str | None:
    result: str | None = ask(server, user, query, post, **args)[1]
    return result


def alive(server: Server) -> None:
    assert http(server, "SELECT 1", anonymous=True, user="default", password=PASSWORDS["default"])[
        2
    ] == (b"1\n")
    status, _, body = http(server, anonymous=True)
    assert (status, body) == (200, b"Ok.\n")


def client(server: Server, user: str) -> Any:
    import clickhouse_connect

    return clickhouse_connect.get_client(
        host=server.host, port=server.port, username=user, password=PASSWORDS[user]
    )


# 1. No host access through SQL ---------------------------------------------------------


@pytest.mark.parametrize("user", ["default", "grafana", "viewer"])
def test_host_files_are_out_of_reach(guarded: Server, users_file: Path, user: str) -> None:
    for path in (str(users_file), "/etc/passwd", "/proc/self/environ"):
        status, got, body = ask(
            guarded, user, f"SELECT line FROM file('{path}', 'LineAsString')", post=True
        )
        assert (status, got) == (403, "497"), body
        assert b"ACCESS_DENIED" in body
        assert PASSWORDS["default"].encode() not in body
    assert code(guarded, user, "SELECT file('/etc/passwd')") == "497"
    assert code(guarded, user, "DESCRIBE TABLE file('/etc/passwd', 'LineAsString')") == "497"
    assert (
        code(
            guarded,
            user,
            "WITH x AS (SELECT * FROM file('/etc/passwd', 'LineAsString')) SELECT * FROM x",
        )
        == "497"
    )
    assert (
        code(guarded, user, "SELECT * FROM view(SELECT * FROM file('/etc/passwd', 'RawBLOB'))")
        == "497"
    )
    assert code(guarded, user, "SELECT * FROM loop(file('/etc/passwd', 'RawBLOB'))") == "497"


def test_no_files_are_written(guarded: Server, tmp_path: Path) -> None:
    target = tmp_path / "made"
    attack = f"INSERT INTO FUNCTION file('{target}', 'TSV', 'x String') VALUES ('x')"
    assert code(guarded, "default", attack) == "497"
    assert code(guarded, "default", f"INSERT INTO FUNCTION file('{target}', 'TSV') SELECT 1") == (
        "497"
    )
    _status, headers, _ = http(
        guarded,
        f"INSERT INTO FUNCTION file('{target}', 'TSV', 'x String') FORMAT TSV",
        body=b"x\n",
        anonymous=True,
        user="default",
        password=PASSWORDS["default"],
    )
    assert headers.get("X-ClickHouse-Exception-Code") == "497"
    assert code(guarded, "default", f"SELECT 1 INTO OUTFILE '{target}'") == "358"
    assert code(guarded, "default", f"SELECT 1 INTO OUTFILE '{target}' FORMAT TSV") == "358"
    assert not target.exists()


@pytest.mark.parametrize("user", ["default", "grafana"])
def test_no_network_through_sql(guarded: Server, user: str) -> None:
    loopback = f"http://127.0.0.1:{guarded.port}/ping"
    for attack in (
        f"SELECT * FROM url('{loopback}', 'LineAsString')",
        "SELECT * FROM s3('http://127.0.0.1:9000/bucket/*.csv', 'CSV')",
        "SELECT * FROM remote('127.0.0.1:9000', system.one)",
        "SELECT * FROM remoteSecure('127.0.0.1:9440', system.one)",
        "SELECT * FROM cluster('default', system.one)",
        "SELECT * FROM mysql('127.0.0.1:3306', 'db', 't', 'u', 'p')",
        "SELECT * FROM postgresql('127.0.0.1:5432', 'db', 't', 'u', 'p')",
        "SELECT * FROM executable('id', 'TSV', 'x String')",
        "SELECT * FROM hdfs('hdfs://127.0.0.1:9000/x', 'TSV', 'x String')",
        "SELECT * FROM merge('system', '^processes$')",
        "SELECT * FROM Python(self)",  # chdb reads the server process's own objects
        "SELECT * FROM filesystem('/')",
        "SELECT * FROM icebergLocal('/etc')",
        f"SELECT * FROM numbers(1) WHERE number IN (SELECT 1 FROM url('{loopback}', 'RawBLOB'))",
    ):
        assert code(guarded, user, attack) == "497", attack


def test_table_and_database_engines_stay_in_the_store(guarded: Server) -> None:
    for attack in (
        "CREATE TABLE f_engine (s String) ENGINE = File(LineAsString, '/etc/passwd')",
        f"CREATE TABLE u_engine (s String) ENGINE = URL('http://127.0.0.1:{guarded.port}/', 'TSV')",
        "CREATE TABLE s_engine (s String) ENGINE = S3('http://127.0.0.1:9000/b/x.csv', 'CSV')",
        "CREATE TABLE e_engine (s String) ENGINE = Executable('id', 'TSV')",
        "CREATE TABLE d_engine (s String) ENGINE = Distributed('default', 'system', 'one')",
        "CREATE TABLE fl_engine (s String) ENGINE = FileLog('/etc', 'LineAsString')",
        "CREATE TABLE as_file AS file('/etc/passwd', 'LineAsString')",
        "CREATE DATABASE fs ENGINE = Filesystem('/etc')",
        "CREATE DATABASE lite ENGINE = SQLite('/etc/passwd')",
        "CREATE DICTIONARY dict_file (line String) PRIMARY KEY line "
        "SOURCE(FILE(path '/etc/passwd' format 'LineAsString')) LAYOUT(HASHED()) LIFETIME(0)",
        "CREATE DICTIONARY dict_http (line String) PRIMARY KEY line "
        f"SOURCE(HTTP(url 'http://127.0.0.1:{guarded.port}/' format 'TSV')) LAYOUT(HASHED()) "
        "LIFETIME(0)",
        "BACKUP TABLE runstream.schema_migrations TO File('/tmp/leak')",
        "ATTACH TABLE at (s String) ENGINE = Memory",
        "SYSTEM SHUTDOWN",
    ):
        assert code(guarded, "default", attack) == "497", attack
    assert code(guarded, "default", "INSERT INTO t FROM INFILE '/etc/passwd' FORMAT TSV") == "78"
    alive(guarded)


def test_what_stays_allowed(guarded: Server) -> None:
    for query, expected in (
        ("SELECT count() FROM numbers(10)", b"10\n"),
        ("SELECT count() FROM numbers_mt(10)", b"10\n"),
        ("SELECT count() FROM zeros(3)", b"3\n"),
        ("SELECT count() FROM (SELECT * FROM generateRandom('a UInt8') LIMIT 4)", b"4\n"),
        ("SELECT sum(x) FROM values('x UInt8', 1, 2, 3)", b"6\n"),
        ("SELECT * FROM view(SELECT 7)", b"7\n"),
        ("SELECT * FROM format(CSV, 'x UInt8', '5')", b"5\n"),
        ("SELECT format('{}-{}', 'a', 'b')", b"a-b\n"),
        ("SELECT count() FROM null('x UInt8')", b"0\n"),
        ("(SELECT 1) UNION ALL (SELECT 1)", b"1\n1\n"),
    ):
        assert ask(guarded, "grafana", query)[2] == expected, query
    table = f"sec_{uuid.uuid4().hex[:8]}"
    for ddl in (
        f"CREATE TABLE {table} (id UInt64, s String) ENGINE = MergeTree "
        "PARTITION BY tuple() ORDER BY id SETTINGS index_granularity = 8192",
        f"CREATE TABLE {table}_m ENGINE = Memory AS SELECT * FROM numbers(3)",
        f"CREATE VIEW {table}_v AS SELECT count() AS c FROM {table}_m",
        f"CREATE DATABASE {table}_db ENGINE = Atomic",
    ):
        assert code(guarded, "default", ddl) is None, ddl
    writer = client(guarded, "default")
    try:
        writer.insert_arrow(table, pa.table({"id": pa.array([1, 2], pa.uint64()), "s": ["a", "b"]}))
        writer.insert(table, [[3, "c"]], column_names=["id", "s"])
        assert writer.command(f"SELECT count() FROM {table}") == 3
        assert writer.command(f"SELECT c FROM {table}_v") == 3
    finally:
        writer.close()


def test_an_enabled_table_function_is_for_that_writer_only(guarded: Server) -> None:
    query = f"SELECT * FROM url('http://127.0.0.1:{guarded.port}/ping', 'LineAsString')"
    status, _got, body = ask(guarded, "fetcher", query, post=True)
    assert (status, body) == (200, b"Ok.\n"), body
    assert code(guarded, "default", query) == "497"
    assert code(guarded, "grafana", query) == "497"
    assert code(guarded, "fetcher", "SELECT * FROM file('/etc/passwd', 'RawBLOB')") == "497"


def test_an_enabled_file_still_cannot_name_the_servers_own_files(
    guarded: Server, users_file: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "shared.txt"
    mine.write_text("hello\n")
    status, _, body = ask(
        guarded, "filer", f"SELECT line FROM file('{mine}', 'LineAsString')", post=True
    )
    assert (status, body) == (200, b"hello\n"), body
    store = guarded.root / "store"
    for attack in (
        f"SELECT line FROM file('{users_file}', 'LineAsString')",
        f"SELECT line FROM file('{users_file.parent}/../{users_file.parent.name}/users.toml', "
        "'LineAsString')",
        f"SELECT * FROM file('{store}/metadata/runstream.sql', 'LineAsString')",
        f"SELECT * FROM file('{users_file.parent}/*.toml', 'LineAsString')",
        "SELECT * FROM file('users.toml', 'LineAsString')",
        f"INSERT INTO FUNCTION file('{store}/x.tsv', 'TSV', 'x String') VALUES ('x')",
    ):
        assert code(guarded, "filer", attack) == "497", attack
    assert code(guarded, "filer", f"SELECT * FROM url('http://127.0.0.1:{guarded.port}/')") == "497"


# 2. Limits no client can lift ----------------------------------------------------------


def test_a_query_cannot_lift_the_time_limit(guarded: Server) -> None:
    started = time.monotonic()
    slow = "SELECT sum(sleepEachRow(0.5)) FROM numbers(16) SETTINGS max_block_size = 1"
    assert code(guarded, "grafana", slow + ", max_execution_time = 60") == "452"
    assert code(guarded, "default", slow + ", max_execution_time = 0") == "452"
    assert code(guarded, "default", "SET max_execution_time = 60") == "452"
    status, got, body = ask(guarded, "grafana", slow, post=True)
    assert (status, got) == (408, "159"), body
    assert time.monotonic() - started < 2 * MAX_QUERY_SECONDS + 3
    assert code(guarded, "grafana", "SELECT 1", max_execution_time="60") == "452"
    assert code(guarded, "grafana", "SELECT 1 SETTINGS max_execution_time = 1") is None


@pytest.mark.parametrize("user", ["default", "grafana"])
def test_no_client_raises_memory_threads_or_result_limits(guarded: Server, user: str) -> None:
    for setting in (
        "max_memory_usage = 100000000000",
        "max_memory_usage = 0",
        "max_threads = 64",
        "max_result_bytes = 0",
        "max_result_bytes = 100000000000",
        "max_untracked_memory = 100000000000",
        "max_memory_usage_for_user = 100000000000",
    ):
        assert code(guarded, user, f"SELECT 1 SETTINGS {setting}") == "452", setting
    assert code(guarded, user, "SELECT 1", max_threads="64") == "452"
    assert code(guarded, user, "SELECT 1 SETTINGS max_threads = 1, max_memory_usage = 1000000") is (
        None
    )


def test_memory_limit_fails_the_query_not_the_server(guarded: Server) -> None:
    _status, got, body = ask(
        guarded, "default", "SELECT length(groupArray(number)) FROM numbers(1000000000)", post=True
    )
    assert got == "241", body
    assert b"MEMORY_LIMIT_EXCEEDED" in body
    alive(guarded)


def test_result_size_limit(guarded: Server) -> None:
    _status, got, body = ask(guarded, "grafana", "SELECT * FROM numbers(10000000)", post=True)
    assert got == "396" or b"TOO_MANY_ROWS_OR_BYTES" in body, body[-300:]
    assert (
        code(guarded, "grafana", "SELECT * FROM numbers(10000000) FORMAT JSON", post=True) == "396"
    )
    alive(guarded)


def test_too_many_simultaneous_queries(guarded: Server) -> None:
    answers: list[Any] = []

    def slow() -> None:
        answers.append(
            ask(guarded, "default", "SELECT sleepEachRow(0.5) FROM numbers(4) FORMAT Null", True)
        )

    threads = [threading.Thread(target=slow) for _ in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(30)
    codes = sorted(str(answer[1]) for answer in answers)
    assert codes == ["202", "None", "None"], answers
    refused = next(answer for answer in answers if answer[1] == "202")
    assert refused[0] == 503
    assert b"TOO_MANY_SIMULTANEOUS_QUERIES" in refused[2]
    alive(guarded)


# 3. Roles that mean what they say ------------------------------------------------------


@pytest.mark.parametrize("user", ["grafana", "viewer"])
def test_readers_cannot_control_or_watch_others(guarded: Server, user: str) -> None:
    for attack in (
        "KILL QUERY WHERE 1",
        "KILL QUERY WHERE 1 SYNC",
        "SYSTEM STOP MERGES",
        "SYSTEM FLUSH LOGS",
        "SHOW PROCESSLIST",
        "SELECT query FROM system.processes",
        "SELECT * FROM system.query_log",
        "SELECT * FROM (SELECT query FROM system.processes)",
        "SELECT * FROM system.one JOIN system.processes ON 1",
        "SELECT * FROM view(SELECT * FROM system.processes)",
    ):
        assert code(guarded, user, attack) == "497", attack
    assert code(guarded, user, "SELECT query FROM processes", database="system") == "497"
    assert ask(guarded, user, "SELECT count() > 0 FROM system.tables")[2] == b"1\n"
    assert ask(guarded, user, "SELECT count() > 0 FROM system.columns")[2] == b"1\n"
    assert code(guarded, user, "SHOW DATABASES") is None


def test_the_writer_keeps_its_powers(guarded: Server) -> None:
    assert code(guarded, "default", "SELECT count() FROM system.processes") is None
    assert code(guarded, "default", "SYSTEM FLUSH LOGS") is None
    assert code(guarded, "default", "KILL QUERY WHERE query_id = 'nothing-like-this' SYNC") is (
        None
    )


def test_the_dashboard_account_works_for_grafana_but_writes_nothing(guarded: Server) -> None:
    # what Grafana's plugin (clickhouse-go) sends: max_execution_time, and output settings
    status, _got, body = ask(
        guarded,
        "grafana",
        "SELECT 1 FORMAT JSONEachRow",
        max_execution_time="2",
        date_time_output_format="iso",
        session_timezone="UTC",
    )
    assert (status, body) == (200, b'{"1":1}\n'), body
    assert code(guarded, "grafana", "CREATE TABLE g_made (a UInt8) ENGINE = Memory") == "164"
    assert (
        code(
            guarded,
            "grafana",
            "INSERT INTO runstream.schema_migrations SELECT * FROM runstream.schema_migrations",
        )
        == "164"
    )
    assert code(guarded, "grafana", "SET readonly = 0") == "164"
    assert code(guarded, "grafana", "SELECT 1", readonly="0") == "164"
    assert code(guarded, "grafana", "SELECT 1", allow_ddl="1") == "164"
    # ... in the query text too: only the settings on its list
    for text in (
        "SELECT 1 SETTINGS allow_introspection_functions = 1",
        "SELECT * FROM (SELECT 1 SETTINGS max_threads = 1, `allow_ddl` = 1)",
        "SET allow_introspection_functions = 1",
    ):
        assert code(guarded, "grafana", text) == "164", text
    assert ask(guarded, "grafana", "SELECT 3 SETTINGS max_threads = 1, log_comment = 'x'")[2] == (
        b"3\n"
    )
    assert code(guarded, "default", "SELECT 1 SETTINGS allow_introspection_functions = 1") is None
    reader = client(guarded, "grafana")
    try:
        assert reader.command("SELECT 1") == 1
        assert reader.query("SELECT number FROM numbers(3)").result_rows == [(0,), (1,), (2,)]
    finally:
        reader.close()
    # a readonly = 1 account has its settings fixed, as in ClickHouse
    assert code(guarded, "viewer", "SELECT 1", max_execution_time="2") == "164"
    assert ask(guarded, "viewer", "SELECT 2")[2] == b"2\n"


def test_errors_and_refusals_keep_passwords_out(guarded: Server) -> None:
    _, got, _body = ask(guarded, "grafana", "SELECT * FROM file('users.toml', 'LineAsString')")
    assert got == "497"
    summary = json.dumps(guarded.output())
    for password in PASSWORDS.values():
        assert password not in summary


def test_a_client_that_stops_reading_is_a_disconnect_not_an_error(guarded: Server) -> None:
    import socket
    import urllib.parse

    query = urllib.parse.urlencode(
        {
            "query": "SELECT number, repeat('x', 100) FROM numbers(100000000)",
            "user": "default",
            "password": PASSWORDS["default"],
            "max_result_bytes": "8000000",
        }
    )
    before = len(guarded.output())
    with socket.create_connection((guarded.host, guarded.port)) as sock:
        sock.sendall(f"GET /?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 20
    while "went away" not in guarded.output()[before:] and time.monotonic() < deadline:
        time.sleep(0.2)
    log = guarded.output()[before:]
    assert "went away" in log, log[-2000:]
    assert "Traceback" not in log and " ERROR " not in log, log[-2000:]
    alive(guarded)


def test_the_watchdog_cancels_queries_past_their_limit(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).with_name("overrun.py")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["code"] == 394, outcome  # QUERY_WAS_CANCELLED: before the server's limit
    assert outcome["seconds"] < 4, outcome  # the engine would have let it finish (code 0)


def test_a_second_statement_never_runs_even_inside_the_check(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).with_name("engine_checks.py")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {
        "SELECT 1; SELECT * FROM file('/etc/hostname', 'LineAsString')": 62,
        "SELEC 1; SELECT * FROM file('/etc/hostname', 'LineAsString')": 62,
        "SELECT 1;": 0,
        "SELECT 'a;b'": 0,
    }
