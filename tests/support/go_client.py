"""Build ``tests/go_client`` (clickhouse-go v2, the driver of Grafana's ClickHouse plugin).

The build goes to ``~/.cache/runstream-local/go`` (GOPATH and module cache), so later
runs and CI reuse it; without a Go toolchain the caller's test is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parents[1] / "go_client"
CACHE = Path.home() / ".cache" / "runstream-local" / "go"


def build_goclient(name: str = "runstream-goclient") -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain: the clickhouse-go checks need `go` on PATH")
    binary = CACHE / "bin" / name
    env = {
        **os.environ,
        "GOPATH": str(CACHE),
        "GOMODCACHE": str(CACHE / "mod"),
        "GOFLAGS": "-modcacherw",
        "GOTOOLCHAIN": "local",
    }
    built = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=MODULE,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stderr
    return binary
