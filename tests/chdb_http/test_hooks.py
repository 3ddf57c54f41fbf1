"""chdb_http served on its own (``serve_plain.py``): the hooks' order, and UTC without TZ.

The server runs in a process whose time zone is America/New_York: the engine must
still answer in UTC, and the process's ``TZ`` and ``time.tzname`` must stay as they
were, before and after the store opens.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.store_server import free_port

SCRIPT = Path(__file__).with_name("serve_plain.py")
LOCAL_ZONE = "America/New_York"


@dataclass
class Plain:
    process: subprocess.Popen[bytes]
    port: int
    events: Path
    log: Path

    def client(self) -> Any:
        import clickhouse_connect

        return clickhouse_connect.get_client(
            host="127.0.0.1", port=self.port, username="default", password="pw"
        )

    def noted(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.events.read_text().splitlines()]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plain]:
    root = tmp_path_factory.mktemp("plain")
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNSTREAM_")}
    env["TZ"] = LOCAL_ZONE
    log = root / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(root / "store"), str(port), str(root / "events")],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Plain(process, port, root / "events", log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve_plain.py exited with {process.returncode}:\n{log.read_text()}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer,
        ):
            if answer.read() == b"Ok.\n":
                break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"serve_plain.py did not answer /ping:\n{log.read_text()}")
    yield server
    if process.poll() is None:
        process.kill()


def test_the_engine_answers_in_utc_in_another_zone(plain: Plain) -> None:
    client = plain.client()
    assert client.command("SELECT timezone()") == "UTC"
    assert str(client.server_tz) == "UTC"
    [(moment,)] = client.query("SELECT toDateTime(0)").result_rows
    # naive from a UTC server (clickhouse-connect's way), never 1969-12-31 19:00
    assert moment.utcoffset() in (None, datetime.timedelta(0))
    assert moment.replace(tzinfo=None) == datetime.datetime(1970, 1, 1)
    assert client.command("SELECT toString(toDateTime(86400))") == "1970-01-02 00:00:00"
    with urllib.request.urlopen(
        f"http://127.0.0.1:{plain.port}/?user=default&password=pw&query=SELECT%201"
    ) as answer:
        assert answer.headers["X-ClickHouse-Timezone"] == "UTC"


def test_on_open_ran_before_serving(plain: Plain) -> None:
    assert plain.client().command("EXISTS DATABASE hooked") == 1


def test_hooks_run_in_order_and_the_environment_stays(plain: Plain) -> None:
    plain.process.send_signal(signal.SIGTERM)
    assert plain.process.wait(60) == 0, plain.log.read_text()
    noted = plain.noted()
    assert [entry["event"] for entry in noted] == ["before", "open", "start", "stop", "closed"]
    before = noted[0]
    assert before["tz"] == LOCAL_ZONE and before["tzname"] != ["UTC", "UTC"]
    for entry in noted[1:]:
        assert (entry["tz"], entry["tzname"]) == (before["tz"], before["tzname"]), entry
    assert noted[1]["dsn"] == noted[2]["dsn"]
    assert noted[1]["dsn"].startswith("chdb://")
