"""``runstream store serve``: what runstream plugs into chdb_http, and its command line.

The lock (a second owner is refused, naming the first one's address), spool intake
while serving, migrations before the port opens, runstream's own messages, and the
stopping order: requests finish, then the store closes and the lock is released.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.store_server import (
    ADMIN_PASSWORD,
    Server,
    http,
    serve_command,
    server_env,
    start_server,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for this module, taking in its spool every 0.2 s."""
    server = start_server(tmp_path_factory.mktemp("served") / "rs", "--ingest-interval", "0.2")
    yield server
    code = server.stop()
    assert code == 0, server.output()


def _client(server: Server) -> Any:
    import clickhouse_connect

    return clickhouse_connect.get_client(
        host=server.host, port=server.port, username="default", password=ADMIN_PASSWORD
    )


def test_migrations_ran_before_the_port_opened(served: Server) -> None:
    versions = _client(served).query(
        "SELECT version FROM runstream.schema_migrations ORDER BY version"
    )
    assert [row[0] for row in versions.result_rows][:2] == [1, 2]


def test_the_spool_is_taken_in_while_serving(
    served: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.runs import make_run

    for variable in (
        "RUNSTREAM_KAFKA_BOOTSTRAP",
        "RUNSTREAM_CLICKHOUSE_URL",
        "RUNSTREAM_S3_ENDPOINT",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("RUNSTREAM_DIR", str(served.root))
    run_id = make_run("served", lr=0.1, steps=5)
    client = _client(served)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = client.command(
            "SELECT count() FROM runstream.runs_started WHERE run_id = {r:String}",
            parameters={"r": run_id},
        )
        if found == 1:
            return
        time.sleep(0.2)
    pytest.fail(f"run {run_id} never reached the store:\n{served.output()[-3000:]}")


def test_a_second_owner_is_refused_with_a_clear_message(served: Server) -> None:
    second = subprocess.run(
        serve_command("--port", "0"),
        env=server_env(served.root),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    assert "is in use by process" in second.stderr
    assert f"RUNSTREAM_CLICKHOUSE_URL={served.url}" in second.stderr


def test_other_addresses_need_a_password(tmp_path: Path) -> None:
    env = server_env(tmp_path / "rs")
    del env["RUNSTREAM_SERVER_PASSWORD"], env["RUNSTREAM_SERVER_READONLY_PASSWORD"]
    refused = subprocess.run(
        serve_command("--host", "0.0.0.0", "--port", "0"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    assert "refusing to serve the store on 0.0.0.0 with no password for default" in refused.stderr
    assert "set RUNSTREAM_SERVER_PASSWORD" in refused.stderr


def test_sigterm_finishes_requests_and_releases_the_store(tmp_path: Path) -> None:
    server = start_server(tmp_path / "rs", "--ingest-interval", "0")
    outcome: dict[str, Any] = {}

    def slow() -> None:
        outcome["answer"] = http(
            server, "SELECT sleepEachRow(0.5) FROM numbers(4) FORMAT Null", body=b""
        )

    worker = threading.Thread(target=slow)
    worker.start()
    time.sleep(0.5)
    assert server.stop(timeout=60) == 0
    worker.join(30)
    assert outcome["answer"][0] == 200, server.output()
    assert "closed and released" in server.output()
    reopened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, chdb; c = chdb.connect(sys.argv[1]); "
            "print(c.query('SELECT 1', 'TSV').bytes().decode().strip()); c.close()",
            str(tmp_path / "rs" / "store"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert reopened.stdout.strip() == "1", reopened.stderr


def test_the_limits_name_the_flags_that_raise_them(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "rs", "--max-body-mb", "1", "--max-query-size", "1000", "--ingest-interval", "0"
    )
    try:
        data = b"x" * (2 * 1024 * 1024)
        status, _, body = http(server, "INSERT INTO t FORMAT LineAsString", body=data)
        assert status == 413
        assert b"(runstream store serve --max-body-mb)" in body
        status, _, body = http(server, "SELECT length({s:String})", body=data)
        assert status == 400
        assert b"Max query size exceeded" in body
        assert b"runstream store serve --max-query-size" in body
        assert http(server, "SELECT length('" + "y" * 900 + "')")[2] == b"900\n"
    finally:
        assert server.stop() == 0, server.output()


def test_dir_help_says_what_it_serves() -> None:
    shown = subprocess.run(
        serve_command("--help"), capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "sets RUNSTREAM_DIR" not in shown
    assert "store/ is served" in shown
