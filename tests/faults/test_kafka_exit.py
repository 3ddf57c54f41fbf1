"""A training process in Kafka mode exits cleanly: no "Exception ignored" from the Kafka
producer's ``__del__`` at interpreter exit, whether it calls finish() or leaves it to atexit,
and the topic holds each spooled event exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb
from support.counts import kinds_sent, spooled
from support.kafka_records import consume

pytestmark = pytest.mark.services

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import runstream

    run = runstream.init(project="tests", name="exits", capture_env=False, capture_code=False,
                         system_interval=None)
    for step in range(20):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    if sys.argv[1] == "finish":
        report = run.finish(timeout=60)
        print(json.dumps({"status": report.status, "not_recorded": report.not_recorded}))
    """
)


@pytest.mark.parametrize("ending", ["finish", "atexit"])
def test_a_kafka_mode_process_exits_without_a_traceback(
    team_mode: Settings, topic: str, kafka_bootstrap: str, ending: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, ending],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    if ending == "finish":
        assert json.loads(done.stdout) == {"status": "finished", "not_recorded": {}}

    sent = spooled(team_mode.spool_dir)
    assert kinds_sent(sent)["run_finished"] == 1 and kinds_sent(sent)["run_started"] == 1
    records = consume(kafka_bootstrap, topic, len(sent) + 1, timeout=5)
    shipped = [pb.Envelope.FromString(record.value).event_id for record in records]
    assert sorted(shipped) == sorted(envelope.event_id for envelope in sent), "each once"
