"""New alerts posted to a webhook: a real local HTTP receiver, real ingest, rate limits."""

from __future__ import annotations

import http.server
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import runstream
from runstream.settings import Settings, load_settings
from runstream_processors.alerts.webhook import notifier_for
from support.runs import store


@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            assert self.headers["Content-Type"] == "application/json"
            found.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(found.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


def _nan_run(metrics: int) -> str:
    with runstream.init(project="hooks", name="nan", system_interval=None) as run:
        run.log({f"m{index}": 1.0 for index in range(metrics)}, step=0)
        run.log({f"m{index}": math.nan for index in range(metrics)}, step=1)
        return run.id


def _settings(
    runstream_dir: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, per_run: str
) -> Settings:
    monkeypatch.setenv("RUNSTREAM_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("RUNSTREAM_ALERT_WEBHOOK_PER_RUN_PER_MINUTE", per_run)
    return load_settings(runstream_dir.root)


def test_new_alerts_are_posted_as_slack_json_rate_limited_per_run(
    runstream_dir: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(runstream_dir, receiver, monkeypatch, per_run="2")
    run_id = _nan_run(metrics=4)  # 4 nonfinite alerts and 1 finished: 5 for one run
    with store(settings) as client:
        notifier = notifier_for(settings)
        assert notifier is not None
        notifier.flush()
        stored = client.query("SELECT count() FROM runstream.run_alerts").result_rows[0][0]
    assert stored == 5, "every alert is stored; only the posts are limited"
    assert len(receiver.bodies) == 2, "2 a minute for one run"
    assert (notifier.sent, notifier.limited) == (2, 3)
    for body in receiver.bodies:
        assert list(body) == ["text"]
        assert f"hooks/{run_id}" in body["text"]
        assert "critical: nonfinite" in body["text"] and "is nan at step 1" in body["text"]


def test_replays_post_nothing_again(
    runstream_dir: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(runstream_dir, receiver, monkeypatch, per_run="100")
    _nan_run(metrics=1)
    with store(settings) as client:
        notifier = notifier_for(settings)
        assert notifier is not None
        notifier.flush()
        assert len(receiver.bodies) == 2  # nonfinite, finished
        client.command("TRUNCATE TABLE runstream.alert_state")  # forget: re-detect
        (settings.local_spool_dir / "checkpoints" / "store.json").unlink()
        from runstream_processors.ingest.spool import ingest_spool

        ingest_spool(client, settings.local_spool_dir)
        notifier.flush()
    assert len(receiver.bodies) == 2, "the alerts were found again, but are not new"


def test_a_failing_webhook_never_fails_ingest(
    runstream_dir: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.status = 500
    settings = _settings(runstream_dir, receiver, monkeypatch, per_run="100")
    _nan_run(metrics=1)
    with store(settings) as client:
        notifier = notifier_for(settings)
        assert notifier is not None
        notifier.flush(timeout=10)
        stored = client.query("SELECT count() FROM runstream.run_alerts").result_rows[0][0]
    assert stored == 2
    assert len(receiver.bodies) == 6, "3 attempts for each of the 2 alerts"
    assert (notifier.sent, notifier.failed) == (0, 2)


def test_a_bad_rate_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNSTREAM_ALERT_WEBHOOK_PER_MINUTE", "often")
    with pytest.raises(runstream.InvalidInputError, match="RUNSTREAM_ALERT_WEBHOOK_PER_MINUTE"):
        load_settings()
