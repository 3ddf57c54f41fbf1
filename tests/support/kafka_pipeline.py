"""The real pipeline as processes: training jobs → Kafka → ``runstream worker`` → store server.

Nothing is mocked: the broker is the session's real Kafka, the worker and the store
owner (``runstream store serve``) are subprocesses, and the tests read the store over
ClickHouse's HTTP interface while the worker writes. What the store must hold is
computed from the training jobs' own spool with the processors' row routing, so a
comparison covers every table, not just the ones a test thought of.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from runstream.spool import Checkpoint, SpoolReader
from runstream.wire import events_pb2 as pb
from runstream_processors.kinds import REGISTRY

from . import counts

HERE = Path(__file__).resolve().parent
TRAIN_JOB = HERE / "train_job.py"
_CLI = [sys.executable, "-m", "runstream_processors.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any RUNSTREAM_ setting, plus ``values``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNSTREAM_")}
    env.update(values)
    return env


@dataclass
class Process:
    """A subprocess with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, command: list[str], env: dict[str, str], log: Path) -> Process:
        with log.open("ab") as sink:
            process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        return cls(name, process, log)

    def output(self, tail: int = 60) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 60.0) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"{self.name} ignored SIGTERM for {timeout:.0f}s:\n{self.output()}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"{self.name} did not end within {timeout:.0f}s:\n{self.output()}")


@dataclass
class Pipeline:
    """Topics, a store server and helpers to start jobs and workers, all private to a test."""

    root: Path
    bootstrap: str
    events_topic: str
    dlq_topic: str
    store_url: str
    group: str = field(default_factory=lambda: f"tests-{uuid.uuid4().hex[:8]}")
    processes: list[Process] = field(default_factory=list)

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    def train_env(self, bootstrap: str | None = None) -> dict[str, str]:
        return clean_env(
            RUNSTREAM_DIR=str(self.train_dir),
            RUNSTREAM_KAFKA_BOOTSTRAP=bootstrap or self.bootstrap,
            RUNSTREAM_KAFKA_TOPIC=self.events_topic,
        )

    def job(self, run: int, *args: str, bootstrap: str | None = None) -> Process:
        command = [sys.executable, str(TRAIN_JOB), "--run", str(run), *args]
        process = Process.start(
            f"job {run}", command, self.train_env(bootstrap), self.root / f"job-{run}.log"
        )
        self.processes.append(process)
        return process

    def worker(self, name: str = "worker", *args: str, ready: bool = True) -> Process:
        """``runstream worker`` in this pipeline's group; by default, wait until it consumes."""
        env = clean_env(
            RUNSTREAM_DIR=str(self.root / "worker"),
            RUNSTREAM_KAFKA_BOOTSTRAP=self.bootstrap,
            RUNSTREAM_KAFKA_TOPIC=self.events_topic,
            RUNSTREAM_CLICKHOUSE_URL=self.store_url,
        )
        command = [
            *_CLI,
            "worker",
            "--group",
            self.group,
            "--dlq-topic",
            self.dlq_topic,
            "--partitions",
            "3",
            "--batch-wait",
            "0.1",
            "--stats-interval",
            "1",
            *args,
        ]
        process = Process.start(name, command, env, self.root / f"{name}.log")
        self.processes.append(process)
        if ready:
            self.wait_until(
                lambda: "[^Worker]: Ready" in process.log.read_text(errors="replace"),
                f"{name} to be ready",
                timeout=90,
            )
        return process

    def sync(self, *args: str, bootstrap: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_CLI, "sync", *args],
            env=self.train_env(bootstrap),
            capture_output=True,
            text=True,
            timeout=300,
        )

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        import clickhouse_connect

        client = clickhouse_connect.get_client(dsn=self.store_url)
        try:
            yield client
        finally:
            client.close()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.client() as client:
            return list(client.query(sql).result_rows)

    def scalar(self, sql: str) -> Any:
        return self.query(sql)[0][0]

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.25)
        logs = "\n\n".join(f"--- {p.name}\n{p.output()}" for p in self.processes)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")

    def assert_exactly_once(
        self, sent: list[pb.Envelope], letters: dict[str, int] | None = None
    ) -> dict[str, int]:
        """Once every sent event is in: sent = landed per table, 0 duplicates, and exactly
        ``letters`` dead letters by reason (``support.counts.assert_exactly_once``)."""
        self.wait_for_events(len({envelope.event_id for envelope in sent}))
        with self.client() as client:
            return counts.assert_exactly_once(client, sent, letters)

    def wait_for_events(self, count: int, timeout: float = 120.0) -> None:
        self.wait_until(
            lambda: self.stored_events() >= count, f"{count} events in the store", timeout
        )

    def stored_events(self) -> int:
        return int(self.scalar("SELECT count() FROM runstream.events_seen"))

    def stop_merges(self) -> None:
        """ReplacingMergeTree merges would hide duplicate rows; with merges stopped, a row
        inserted twice stays visible to the duplicate checks."""
        with self.client() as client:
            for table in counts.TABLES:
                client.command(f"SYSTEM STOP MERGES runstream.{table}")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.alive():
                process.kill()


def spool_envelopes(spool_dir: Path) -> list[pb.Envelope]:
    """Every envelope the training jobs spooled (shipped or not), in spool order."""
    reader = SpoolReader(spool_dir)
    checkpoint = Checkpoint(spool_dir / "checkpoints" / "tests-unsaved.json")
    envelopes: list[pb.Envelope] = []
    while True:
        result = reader.read(checkpoint)
        if not result.records:
            return envelopes
        envelopes.extend(pb.Envelope.FromString(record.payload) for record in result.records)
        checkpoint.advance(result.records)


def expected_rows(envelopes: list[pb.Envelope]) -> dict[str, int]:
    """Rows per table the store must hold for ``envelopes``, routed by the processors' code."""
    return counts.expected_counts(envelopes)


def stored_rows(pipeline: Pipeline) -> dict[str, int]:
    with pipeline.client() as client:
        return counts.table_counts(client)


def duplicated_rows(pipeline: Pipeline) -> dict[str, int]:
    """Rows a query sees more than once, per table (all zero when replays were harmless)."""
    with pipeline.client() as client:
        return counts.duplicated_rows(client)


def metric_fingerprint(pipeline: Pipeline) -> list[tuple[Any, ...]]:
    """What a user's queries would see of the metrics: per run and key, count/sum/min/max."""
    return pipeline.query(
        "SELECT run_id, key, count(), round(sum(value), 6), min(step), max(step) "
        "FROM runstream.metrics GROUP BY run_id, key ORDER BY run_id, key"
    )


def job_report(process: Process) -> dict[str, Any]:
    """The JSON line the job printed last."""
    lines = [line for line in process.log.read_text().splitlines() if line.startswith("{")]
    assert lines, f"{process.name} printed no report:\n{process.output()}"
    report: dict[str, Any] = json.loads(lines[-1])
    return report


def wait_for_file(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear within {timeout:.0f}s")
        time.sleep(0.05)


def start_store_server(root: Path, timeout: float = 90.0) -> tuple[Process, str]:
    """``runstream store serve`` on a free port (it owns ``root``'s embedded store)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "runstream_processors.cli.store",
        "serve",
        "--port",
        str(port),
        "--ingest-interval",
        "0",
        "--log-level",
        "WARNING",
    ]
    server = Process.start(
        "store server",
        command,
        clean_env(RUNSTREAM_DIR=str(root)),
        root.with_name(root.name + "-server.log"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            pytest.fail(f"the store server exited:\n{server.output()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
            if r.read() == b"Ok.\n":
                return server, url
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"the store server did not answer within {timeout:.0f}s:\n{server.output()}")


def expected_fingerprint(envelopes: list[pb.Envelope]) -> list[tuple[Any, ...]]:
    """:func:`metric_fingerprint` computed from the envelopes themselves."""
    table = REGISTRY.rows(envelopes).tables()["metrics"]
    grouped = table.group_by(["run_id", "key"]).aggregate(
        [("value", "count"), ("value", "sum"), ("step", "min"), ("step", "max")]
    )
    rows = zip(
        *(
            grouped.column(name).to_pylist()
            for name in ("run_id", "key", "value_count", "value_sum", "step_min", "step_max")
        ),
        strict=True,
    )
    return sorted(
        (run, key, count, round(total, 6), first, last)
        for run, key, count, total, first, last in rows
    )
