"""Fixtures shared by every test folder.

Real services (Kafka, S3) come from ``real_services.py``: endpoints given by
environment variables, testcontainers where a Docker engine answers, else the
local servers that ``deploy/local/services.sh`` installs and starts.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Import the package chdb_http before tests/ goes on sys.path, where the test folder
# tests/chdb_http (no __init__.py) would otherwise shadow it as a namespace package.
with contextlib.suppress(ImportError):  # without the store extra its tests skip or fail alone
    import chdb_http  # noqa: F401
sys.path.insert(0, str(Path(__file__).parent))

from real_services import *  # noqa: F403  (pytest fixtures)
from runstream.settings import Settings, load_settings


@pytest.fixture
def runstream_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A private RUNSTREAM_DIR in embedded mode (no broker, no server, no S3)."""
    for variable in (
        "RUNSTREAM_KAFKA_BOOTSTRAP",
        "RUNSTREAM_CLICKHOUSE_URL",
        "RUNSTREAM_S3_ENDPOINT",
    ):
        monkeypatch.delenv(variable, raising=False)
    root = tmp_path / "rs"
    monkeypatch.setenv("RUNSTREAM_DIR", str(root))
    yield load_settings(root)


@pytest.fixture(autouse=True)
def _no_active_run_leaks() -> Iterator[None]:
    """A test that leaves a run active would break every later test's init()."""
    yield
    import runstream

    run = runstream.active_run()
    if run is not None:
        run.finish()
        pytest.fail(f"test left run {run.name!r} active")


REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
os.environ.setdefault("PYTHONHASHSEED", "0")
