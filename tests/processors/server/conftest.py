"""A real ``runstream store serve`` process for the server tests, and a real ClickHouse to compare.

The server runs as a subprocess (it must own its store, as in production) on a free
port with a private RUNSTREAM_DIR; fixtures wait for ``/ping``. ``target`` runs the
same client tests against it and, where a Docker engine answers, against the
ClickHouse server image through testcontainers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from real_services import docker_available

CLICKHOUSE_IMAGE = os.environ.get(
    "RUNSTREAM_TEST_CLICKHOUSE_IMAGE", "clickhouse/clickhouse-server:25.8"
)
NO_DOCKER = (
    "no Docker engine: the real-server comparison runs where testcontainers can start ClickHouse"
)
ADMIN_PASSWORD = "rw-secret"
READONLY_PASSWORD = "ro-secret"


@dataclass
class Server:
    """A running ``runstream store serve``."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@dataclass(frozen=True)
class Target:
    """Where a ClickHouse client connects, and as whom."""

    name: str
    host: str
    port: int
    user: str = "default"
    password: str = ADMIN_PASSWORD
    readonly_user: str = "readonly"
    readonly_password: str = READONLY_PASSWORD

    def client(self, readonly: bool = False, **options: Any) -> Any:
        import clickhouse_connect

        return clickhouse_connect.get_client(
            host=self.host,
            port=self.port,
            username=self.readonly_user if readonly else self.user,
            password=self.readonly_password if readonly else self.password,
            **options,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(root: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNSTREAM_")}
    env.update(
        RUNSTREAM_DIR=str(root),
        RUNSTREAM_SERVER_PASSWORD=ADMIN_PASSWORD,
        RUNSTREAM_SERVER_READONLY_PASSWORD=READONLY_PASSWORD,
        **extra,
    )
    return env


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "runstream_processors.cli.store", "serve", *args]


def start_server(
    root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90.0
) -> Server:
    """Start a server and wait until it answers /ping (or fail with its output)."""
    port = free_port()
    log = root.with_name(root.name + f"-server-{port}.log")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            serve_command("--port", str(port), "--log-level", "DEBUG", *args),
            env=env or server_env(root),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(root, port, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{server.output()}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{server.url}/ping", timeout=2) as answer,
        ):
            if answer.read() == b"Ok.\n":
                return server
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"the server did not answer /ping within {timeout:.0f}s:\n{server.output()}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a test module: users default (rw-secret) and readonly (ro-secret)."""
    root = tmp_path_factory.mktemp("served") / "rs"
    server = start_server(root, "--ingest-interval", "0.2")
    yield server
    code = server.stop()
    assert code == 0, server.output()


@pytest.fixture(scope="session")
def clickhouse_server() -> Iterator[Target]:
    """The ClickHouse server image with the same two users, where Docker answers."""
    if not docker_available():
        pytest.skip(NO_DOCKER)
    from testcontainers.clickhouse import ClickHouseContainer

    with ClickHouseContainer(
        CLICKHOUSE_IMAGE, username="default", password=ADMIN_PASSWORD
    ) as container:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(8123))
        target = Target("clickhouse", host, port)
        admin = target.client()
        admin.command(
            f"CREATE USER IF NOT EXISTS readonly IDENTIFIED BY '{READONLY_PASSWORD}' "
            "SETTINGS readonly = 1"
        )
        admin.command("GRANT SELECT, SHOW ON *.* TO readonly")
        yield target


@pytest.fixture(params=["runstream", "clickhouse"])
def target(request: pytest.FixtureRequest) -> Target:
    """The same client tests against our server and, where possible, a real ClickHouse."""
    if request.param == "clickhouse":
        server: Target = request.getfixturevalue("clickhouse_server")
        return server
    served: Server = request.getfixturevalue("served")
    return Target("runstream", served.host, served.port)
