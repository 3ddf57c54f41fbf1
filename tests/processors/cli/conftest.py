"""The store every CLI test runs on, twice: embedded, and through ``runstream store serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from runstream.settings import Settings
from support.store_server import ADMIN_PASSWORD, start_server


@pytest.fixture(params=["embedded", "served"])
def store(
    request: pytest.FixtureRequest,
    runstream_dir: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """The CLI's store: embedded in RUNSTREAM_DIR, or a store server owning its own."""
    if request.param == "embedded":
        yield runstream_dir
        return
    server = start_server(tmp_path / "server", "--ingest-interval", "0")
    monkeypatch.setenv(
        "RUNSTREAM_CLICKHOUSE_URL", f"http://default:{ADMIN_PASSWORD}@{server.host}:{server.port}"
    )
    yield runstream_dir
    assert server.stop() == 0, server.output()
