"""A real ``runstream store serve`` process: started on a free port, owning a private store.

The server (chdb_http with runstream's lock, migrations and spool intake) runs as a
subprocess (it must own its store, as in production) with a private RUNSTREAM_DIR;
``start_server`` waits for ``/ping``. Used by chdb_http's tests, by those of
``runstream store serve`` and by every test that reads through a served store (the
CLI's, for one); ``http`` sends one raw request.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

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


def http(
    server: Server,
    query: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    anonymous: bool = False,
    **args: str,
) -> tuple[int, dict[str, str], bytes]:
    """One raw request as ``default`` (unless anonymous); (status, headers, body), errors too."""
    params = {} if anonymous else {"user": "default", "password": ADMIN_PASSWORD}
    params.update(args)
    if query is not None:
        params["query"] = query
    url = f"{server.url}/?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(
        url, data=body, headers=headers or {}, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
