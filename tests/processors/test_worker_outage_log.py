"""OutageLog: one line when Kafka goes away, a count now and then, one when it is back."""

from __future__ import annotations

import logging

import pytest
from runstream_processors.worker.outage import OUTAGE, OutageLog, install


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def captured() -> tuple[OutageLog, Clock, list[logging.LogRecord], logging.Logger]:
    clock = Clock()
    root = logging.getLogger("tests-outage-root")
    outage = OutageLog(quiet_s=10, remind_s=60, clock=clock, log=root)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    root.handlers = [Keep(), Keep()]  # two handlers see each record: counted once
    root.propagate = False
    root.setLevel(logging.INFO)
    install(outage, root)
    return outage, clock, records, root


def test_an_outage_is_three_lines(
    captured: tuple[OutageLog, Clock, list[logging.LogRecord], logging.Logger],
) -> None:
    outage, clock, records, root = captured
    kafka = root.getChild("aiokafka.conn")  # a client logger's name, under our test root
    kafka.name = "aiokafka.conn"
    for _ in range(500):
        clock.now += 0.25
        kafka.error("Unable to connect to %s", "broker:9092")
    root.warning("cannot send a dead letter", extra=OUTAGE)
    root.info("not about Kafka")
    outage.tick()  # still failing: nothing
    clock.now += 11
    outage.tick()
    outage.tick()  # over once
    messages = [r.getMessage() for r in records[::2]]  # each record twice (two handlers)
    assert len(records) % 2 == 0
    assert messages[0].startswith("Kafka unreachable since ")
    assert "Unable to connect to broker:9092" in messages[0]
    reminders = [m for m in messages if "failed attempts so far" in m]
    assert len(reminders) == 2  # 125 s of failures, one every 60 s
    assert "not about Kafka" in messages
    assert messages[-1] == "Kafka back after 136 s, 501 failed attempts"
    assert len(messages) == 5
    assert outage.in_outage is False


def test_a_success_ends_an_outage_at_once(
    captured: tuple[OutageLog, Clock, list[logging.LogRecord], logging.Logger],
) -> None:
    outage, clock, records, root = captured
    root.warning("journal failed", extra=OUTAGE)
    root.warning("journal failed", extra=OUTAGE)
    clock.now += 3
    outage.recovered()
    outage.recovered()
    kept = [r.getMessage() for r in records[::2]]
    assert kept[0].startswith("Kafka unreachable since ")
    assert kept[1:] == ["Kafka back after 3 s, 2 failed attempts"]
    assert outage.in_outage is False
