"""A real chdb_http server for its tests, and a real ClickHouse to compare.

``served`` is one server per test module, started the way it runs in production, as
``runstream store serve`` (see ``support.store_server``); ``target`` runs the same
client tests against it and, where a Docker engine answers, against the ClickHouse
server image through testcontainers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from real_services import docker_available
from support.store_server import ADMIN_PASSWORD, READONLY_PASSWORD, Server, start_server

CLICKHOUSE_IMAGE = os.environ.get(
    "RUNSTREAM_TEST_CLICKHOUSE_IMAGE", "clickhouse/clickhouse-server:25.8"
)
NO_DOCKER = (
    "no Docker engine: the real-server comparison runs where testcontainers can start ClickHouse"
)


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


@pytest.fixture(params=["chdb_http", "clickhouse"])
def target(request: pytest.FixtureRequest) -> Target:
    """The same client tests against our server and, where possible, a real ClickHouse."""
    if request.param == "clickhouse":
        server: Target = request.getfixturevalue("clickhouse_server")
        return server
    served: Server = request.getfixturevalue("served")
    return Target("chdb_http", served.host, served.port)
