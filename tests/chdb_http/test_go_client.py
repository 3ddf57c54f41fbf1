"""clickhouse-go v2 over HTTP (the driver of Grafana's ClickHouse plugin) against the server.

``tests/go_client`` is a small Go program pinned to a clickhouse-go release; it runs
typed queries and a batch insert and prints what it read as JSON (built by
``support/go_client.py``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.go_client import build_goclient
from support.store_server import ADMIN_PASSWORD, READONLY_PASSWORD, Server


@pytest.fixture(scope="module")
def goclient() -> Path:
    return build_goclient()


def run_goclient(binary: Path, server: Server, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(binary), "-addr", f"{server.host}:{server.port}", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{done.stderr}\n{server.output()[-3000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_clickhouse_go_reads_typed_values_and_inserts(
    goclient: Path, served: Server, compression: str
) -> None:
    out = run_goclient(
        goclient,
        served,
        "-user",
        "default",
        "-password",
        ADMIN_PASSWORD,
        "-table",
        f"go_{compression}",
        "-compression",
        compression,
    )
    assert "26." in out["server_version"] or "25." in out["server_version"]
    assert out["inserted"] == 1000
    assert out["sum_after"] == 749_250.0
    assert out["rows"] == [
        {
            "id": 0,
            "value": 0.0,
            "name": "row-0",
            "at": "2026-01-02T03:04:05.678Z",
            "tags": ["a", "0"],
            "maybe": 0.0,
            "category": "train",
        },
        {
            "id": 1,
            "value": 1.5,
            "name": "row-1",
            "at": "2026-01-02T03:04:06.678Z",
            "tags": ["a", "1"],
            "maybe": None,
            "category": "eval",
        },
        {
            "id": 2,
            "value": 3.0,
            "name": "row-2",
            "at": "2026-01-02T03:04:07.678Z",
            "tags": ["a", "2"],
            "maybe": 1.0,
            "category": "train",
        },
    ]
    assert out["param_result"] == "hello grafana"
    assert out["error_code"] == 60
    assert len(out["aggregate"]) == 17


def test_clickhouse_go_readonly_user_cannot_insert(goclient: Path, served: Server) -> None:
    done = subprocess.run(
        [
            str(goclient),
            "-addr",
            f"{served.host}:{served.port}",
            "-user",
            "readonly",
            "-password",
            READONLY_PASSWORD,
            "-table",
            "go_ro",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert "164" in done.stderr or "readonly" in done.stderr.lower(), done.stderr
