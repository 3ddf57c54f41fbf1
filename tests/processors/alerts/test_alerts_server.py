"""``runstream store serve`` takes the spool in and finds alerts as the CLI does, webhook too."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest
import runstream
from support.store_server import ADMIN_PASSWORD, server_env, start_server

from .test_webhook import Receiver, receiver  # noqa: F401  (the fixture)


def test_the_server_records_and_posts_alerts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    receiver: Receiver,  # noqa: F811
) -> None:
    import clickhouse_connect

    root = tmp_path / "rs"
    env = server_env(root, RUNSTREAM_ALERT_WEBHOOK_URL=receiver.url)
    server = start_server(root, "--ingest-interval", "0.2", env=env)
    try:
        for variable in ("RUNSTREAM_KAFKA_BOOTSTRAP", "RUNSTREAM_CLICKHOUSE_URL"):
            monkeypatch.delenv(variable, raising=False)
        with runstream.init(project="served", dir=root, system_interval=None) as run:
            run.log({"loss": 1.0}, step=0)
            run.log({"loss": math.nan}, step=1)
        client: Any = clickhouse_connect.get_client(
            host=server.host, port=server.port, username="default", password=ADMIN_PASSWORD
        )
        deadline = time.monotonic() + 60
        rows: list[Any] = []
        while time.monotonic() < deadline and (len(rows) < 2 or len(receiver.bodies) < 2):
            rows = client.query(
                "SELECT rule, metric, step, source FROM runstream.run_alerts "
                "WHERE run_id = {r:String} ORDER BY rule",
                parameters={"r": run.id},
            ).result_rows
            time.sleep(0.2)
        assert rows == [("finished", "", 0, "spool"), ("nonfinite", "loss", 1, "spool")]
        texts = sorted(body["text"] for body in receiver.bodies)
        assert len(texts) == 2
        assert any("critical: nonfinite" in text for text in texts)
        assert any("info: finished" in text for text in texts)
    finally:
        assert server.stop() == 0, server.output()
