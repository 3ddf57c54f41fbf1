#!/usr/bin/env python3
"""End-to-end pipeline benchmark: SDK → Kafka → ``runstream worker`` → ClickHouse.

Scenarios (each on its own fresh topic or group, all on this machine's real broker):

* ``sdk_to_kafka``: training processes log flat out; points/s until Kafka acknowledged all.
* ``kafka_to_store``: a worker drains that filled topic into the store; points/s.
* ``end_to_end``: producers and worker at once, sustained; points/s from the first event
  produced to the last one stored (``events_seen.produced_at`` → ``ingested_at``).
* ``sustained``: producers paced at a few total rates for ``--sustained-seconds``; whether
  the pipeline kept up (short tail, bounded produced → stored latency).
* ``freshness``: one producer at a steady moderate rate with a probe point every 100 ms
  whose value is its ``log()`` wall clock; a reader polls the store every 50 ms.
  Reported: log() → queryable p50/p99/max.

The store is ``runstream store serve`` (the embedded store's owner) over HTTP, as when a
team runs it beside the worker; ``--embedded`` adds a drain where the worker owns chdb
itself. CPU seconds per component (producers, broker, worker, store server) say where the
time goes. Results: ``results/pipeline.json`` and ``results/pipeline.md``.

    deploy/local/services.sh start kafka
    .venv/bin/python benchmarks/pipeline/bench.py            # ~3 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYTHON = sys.executable
CLI = [PYTHON, "-m", "runstream_processors.cli.main"]


@dataclass
class Bench:
    bootstrap: str
    root: Path
    args: argparse.Namespace
    results: dict[str, Any] = field(default_factory=dict)

    def env(self, **values: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
        env.update(RUNSTREAM_KAFKA_BOOTSTRAP=self.bootstrap, **values)
        return env


# -- processes ---------------------------------------------------------------------------


class CpuMeter:
    """Samples the CPU seconds of named processes (and their children) until stopped."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._watched: dict[str, list[psutil.Process]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._base: dict[tuple[str, int], float] = {}
        self._last: dict[tuple[str, int], float] = {}

    def watch(self, name: str, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            self._base[(name, pid)] = _cpu(process)
            self._watched.setdefault(name, []).append(process)

    def __enter__(self) -> CpuMeter:
        self._system_base = _busy()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        ours = sum(self.seconds.values())
        self.seconds["others"] = max(_busy() - self._system_base - ours, 0.0)

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def _sample(self) -> None:
        for name, processes in list(self._watched.items()):
            for process in processes:
                with contextlib.suppress(psutil.Error):
                    self._last[(name, process.pid)] = _cpu(process)
            self.seconds[name] = sum(
                last - self._base.get(key, 0.0)
                for key, last in self._last.items()
                if key[0] == name
            )


def _busy() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores)."""
    times = psutil.cpu_times()
    return float(
        times.user
        + times.system
        + getattr(times, "irq", 0.0)
        + getattr(times, "softirq", 0.0)
        + getattr(times, "nice", 0.0)
    )


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


def broker_pid() -> int | None:
    for process in psutil.process_iter(["cmdline"]):
        if "kafka.Kafka" in " ".join(process.info["cmdline"] or []):
            return process.pid
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def store_server(bench: Bench, name: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    log = (bench.root / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "runstream_processors.cli.store",
            "serve",
            "--port",
            str(port),
            "--ingest-interval",
            "0",
            "--log-level",
            "WARNING",
        ],
        env=bench.env(RUNSTREAM_DIR=str(bench.root / name)),
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ping", timeout=2):
            break
        time.sleep(0.2)
    _warm_up(url)
    try:
        yield process, url
    finally:
        _stop(process, 60)


@contextlib.contextmanager
def worker(
    bench: Bench, topic: str, store_url: str | None, name: str, stats_interval: float = 5.0
) -> Iterator[subprocess.Popen[bytes]]:
    log_path = bench.root / f"{name}.log"
    values = {"RUNSTREAM_DIR": str(bench.root / name), "RUNSTREAM_KAFKA_TOPIC": topic}
    if store_url:
        values["RUNSTREAM_CLICKHOUSE_URL"] = store_url
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *CLI,
                "worker",
                "--group",
                f"bench-{uuid.uuid4().hex[:8]}",
                "--partitions",
                "6",
                "--dlq-topic",
                f"{topic}.dlq",
                "--batch-size",
                str(bench.args.batch_size),
                "--batch-wait",
                str(bench.args.batch_wait),
                "--stats-interval",
                str(stats_interval),
                "--log-level",
                bench.args.worker_log,
            ],
            env=bench.env(**values),
            stdout=log,
            stderr=log,
        )
    deadline = time.monotonic() + 120
    while "[^Worker]: Ready" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield process
    finally:
        _stop(process, 120)


def _stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout``: never leave a process behind."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def producers(
    bench: Bench, topic: str, count: int, points: int, meter: CpuMeter, *extra: str
) -> list[dict[str, Any]]:
    jobs = []
    for index in range(count):
        env = bench.env(
            RUNSTREAM_DIR=str(bench.root / f"train-{topic}-{index}"), RUNSTREAM_KAFKA_TOPIC=topic
        )
        jobs.append(
            subprocess.Popen(
                [
                    PYTHON,
                    str(HERE / "load.py"),
                    "--name",
                    f"p{index}",
                    "--points",
                    str(points // count),
                    "--keys",
                    str(bench.args.keys),
                    *extra,
                ],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        meter.watch("producers", jobs[-1].pid)
    reports = []
    for job in jobs:
        out, _ = job.communicate(timeout=1800)
        if job.returncode:
            raise RuntimeError(f"a producer failed ({job.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def create_topic(bench: Bench) -> str:
    """A fresh topic; fails at once when the broker is down (it is shared with other work)."""
    from runstream_processors.topics import ensure_topics, runstream_topics

    topic = f"bench.events.{uuid.uuid4().hex[:8]}"
    ensure_topics(bench.bootstrap, runstream_topics(topic, 6, f"{topic}.dlq"), timeout_s=10.0)
    return topic


def _warm_up(url: str) -> None:
    """One Arrow insert, so the fresh server's first-use costs are not counted (a real one
    runs for days)."""
    import clickhouse_connect
    import pyarrow as pa

    client = clickhouse_connect.get_client(dsn=url)
    try:
        client.command("CREATE TABLE IF NOT EXISTS default.bench_warm_up (x Int64) ENGINE = Memory")
        client.insert_arrow("default.bench_warm_up", pa.table({"x": pa.array([1, 2, 3])}))
        client.command("DROP TABLE default.bench_warm_up")
    finally:
        client.close()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=url)
    try:
        return [tuple(row) for row in client.query(sql).result_rows]
    finally:
        client.close()


def wait_stored(url: str, events: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while query(url, "SELECT count() FROM runstream.events_seen")[0][0] < events:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the store did not get {events} events within {timeout:.0f}s")
        time.sleep(0.5)


def topic_records(bench: Bench, topic: str) -> int:
    from kafka import KafkaConsumer
    from kafka.structs import TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bench.bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return int(sum(consumer.end_offsets(partitions).values()))
    finally:
        consumer.close()


def span(url: str) -> tuple[float, float, int]:
    """(first produced → last ingested seconds, first → last ingested, metric points)."""
    row = query(
        url,
        "SELECT dateDiff('millisecond', min(produced_at), max(ingested_at)), "
        "dateDiff('millisecond', min(ingested_at), max(ingested_at)) "
        "FROM runstream.events_seen",
    )[0]
    points = query(url, "SELECT count() FROM runstream.metrics")[0][0]
    return row[0] / 1000, row[1] / 1000, int(points)


def cores(meter: CpuMeter, seconds: float) -> dict[str, float]:
    return {name: round(cpu / seconds, 2) for name, cpu in sorted(meter.seconds.items())}


# -- scenarios ---------------------------------------------------------------------------


def sdk_to_kafka(bench: Bench) -> str:
    topic = create_topic(bench)
    with CpuMeter() as meter:
        if pid := broker_pid():
            meter.watch("broker", pid)
        began = time.monotonic()
        reports = producers(bench, topic, bench.args.producers, bench.args.points, meter)
        wall = time.monotonic() - began
    points = sum(r["points"] for r in reports)
    busiest = max(r["log_s"] + r["finish_s"] for r in reports)
    bench.results["sdk_to_kafka"] = {
        "points": points,
        "producers": len(reports),
        "points_per_s": round(points / busiest),
        "log_s": round(max(r["log_s"] for r in reports), 2),
        "finish_s": round(max(r["finish_s"] for r in reports), 2),
        "wall_s": round(wall, 2),
        "not_recorded": [r["not_recorded"] for r in reports if r["not_recorded"]],
        "cores": cores(meter, busiest),
    }
    return topic


def kafka_to_store(bench: Bench, topic: str) -> None:
    records = topic_records(bench, topic)
    with store_server(bench, "store-drain") as (server, url), CpuMeter() as meter:
        meter.watch("store server", server.pid)
        if pid := broker_pid():
            meter.watch("broker", pid)
        with worker(bench, topic, url, "worker-drain") as process:
            meter.watch("worker", process.pid)
            began = time.monotonic()
            wait_stored(url, records, timeout=1800)
            drained = time.monotonic() - began
            _, ingest_s, points = span(url)
    bench.results["kafka_to_store"] = {
        "records": records,
        "points": points,
        "seconds": round(drained, 2),
        "points_per_s": round(points / drained),
        "first_to_last_insert_s": round(ingest_s, 2),
        "cores": cores(meter, drained),
    }


def end_to_end(bench: Bench) -> None:
    topic = create_topic(bench)
    with store_server(bench, "store-e2e") as (server, url), CpuMeter() as meter:
        meter.watch("store server", server.pid)
        if pid := broker_pid():
            meter.watch("broker", pid)
        with worker(bench, topic, url, "worker-e2e") as process:
            meter.watch("worker", process.pid)
            began = time.monotonic()
            reports = producers(bench, topic, bench.args.producers, bench.args.points, meter)
            wait_stored(url, topic_records(bench, topic), timeout=1800)
            wall = time.monotonic() - began
            seconds, _, points = span(url)
    bench.results["end_to_end"] = {
        "points": points,
        "producers": len(reports),
        "seconds": round(seconds, 2),
        "points_per_s": round(points / seconds),
        "wall_s": round(wall, 2),
        "producer_log_s": round(max(r["log_s"] for r in reports), 2),
        "cores": cores(meter, seconds),
    }


def sustained(bench: Bench, rate: float) -> None:
    """Producers paced at ``rate`` points/s in total: does the pipeline keep up?

    Kept up means the store holds everything soon after the producers stop (the tail) and
    events were stored within seconds of being produced all along (p99 below).
    """
    topic = create_topic(bench)
    seconds, count = bench.args.sustained_seconds, bench.args.producers
    with store_server(bench, f"store-{rate:.0f}") as (server, url), CpuMeter() as meter:
        meter.watch("store server", server.pid)
        if pid := broker_pid():
            meter.watch("broker", pid)
        with worker(bench, topic, url, f"worker-{rate:.0f}") as process:
            meter.watch("worker", process.pid)
            began = time.monotonic()
            reports = producers(
                bench, topic, count, int(rate * seconds), meter, "--rate", str(rate / count)
            )
            logged = time.monotonic()
            wait_stored(url, topic_records(bench, topic), timeout=1800)
            tail = time.monotonic() - logged
            lag = query(
                url,
                "SELECT quantiles(0.5, 0.99)(dateDiff('millisecond', produced_at, "
                "ingested_at)) FROM runstream.events_seen",
            )[0][0]
            _, _, points = span(url)
    achieved = points / max(r["log_s"] for r in reports)
    bench.results.setdefault("sustained", []).append(
        {
            "target_points_per_s": rate,
            "achieved_log_points_per_s": round(achieved),
            "points": points,
            "tail_s": round(tail, 2),
            "produced_to_stored_p50_s": round(lag[0] / 1000, 3),
            "produced_to_stored_p99_s": round(lag[1] / 1000, 3),
            "kept_up": tail < 5.0 and lag[1] < 5000,
            "cores": cores(meter, logged - began),
        }
    )


def freshness(bench: Bench) -> None:
    topic = create_topic(bench)
    rate, seconds = bench.args.fresh_rate, bench.args.fresh_seconds
    samples: list[float] = []
    with store_server(bench, "store-fresh") as (_, url), worker(bench, topic, url, "worker-fresh"):
        stop = threading.Event()
        reader = threading.Thread(target=_read_probes, args=(url, samples, stop), daemon=True)
        reader.start()
        with CpuMeter() as meter:
            producers(
                bench,
                topic,
                1,
                int(rate * seconds),
                meter,
                "--rate",
                str(rate),
                "--probe-interval",
                "0.1",
            )
        time.sleep(3)
        stop.set()
        reader.join()
        lag = query(
            url,
            "SELECT quantiles(0.5, 0.99)(dateDiff('millisecond', produced_at, "
            "ingested_at)) FROM runstream.events_seen",
        )[0][0]
    samples.sort()
    bench.results["freshness"] = {
        "load_points_per_s": rate,
        "seconds": seconds,
        "probes": len(samples),
        "p50_s": round(statistics.median(samples), 3),
        "p99_s": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 3),
        "max_s": round(samples[-1], 3),
        "produced_to_stored_p50_s": round(lag[0] / 1000, 3),
        "produced_to_stored_p99_s": round(lag[1] / 1000, 3),
    }


def _read_probes(url: str, samples: list[float], stop: threading.Event) -> None:
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=url)
    last = -1
    while not stop.wait(0.05):
        rows = client.query(
            "SELECT step, value FROM runstream.metrics WHERE split = 'probe' "
            f"AND step > {last} ORDER BY step"
        ).result_rows
        now = time.time()
        for step, logged_at in rows:
            samples.append(now - logged_at)
            last = max(last, step)
    client.close()


def embedded_drain(bench: Bench, topic: str) -> None:
    """The worker owning chdb itself: no HTTP hop, no second process writing."""
    records = topic_records(bench, topic)
    with CpuMeter() as meter, worker(bench, topic, None, "worker-embedded", 0.5) as process:
        meter.watch("worker", process.pid)
        log = bench.root / "worker-embedded.log"
        began = time.monotonic()
        while _stats_total(log) < records:
            if time.monotonic() - began > 1800:
                raise RuntimeError("the embedded drain did not finish")
            time.sleep(0.2)
        seconds = time.monotonic() - began
    bench.results["kafka_to_embedded_store"] = {
        "records": records,
        "points": bench.args.points,
        "seconds_upper_bound": round(seconds, 2),
        "points_per_s_lower_bound": round(bench.args.points / seconds),
        "cores": cores(meter, seconds),
    }


def _stats_total(log: Path) -> int:
    total = 0
    for line in log.read_text(errors="replace").splitlines():
        if "new events" in line:
            words = line.split()
            total += int(words[words.index("new") - 1]) + int(words[words.index("replayed,") - 1])
    return total


# -- report ------------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# Pipeline benchmark ({results['machine']['when']})",
        "",
        f"Machine: {results['machine']['cpus']} cores, {results['machine']['system']}; "
        f"{results['settings']}",
        "",
        "| scenario | points | points/s | seconds | cores |",
        "|---|---:|---:|---:|---|",
    ]
    for name in ("sdk_to_kafka", "kafka_to_store", "kafka_to_embedded_store", "end_to_end"):
        if name in results:
            r = results[name]
            rate = r.get("points_per_s", r.get("points_per_s_lower_bound"))
            secs = r.get("seconds", r.get("log_s", r.get("seconds_upper_bound")))
            cpu = ", ".join(f"{k} {v}" for k, v in r.get("cores", {}).items())
            lines.append(f"| {name} | {r['points']:,} | {rate:,} | {secs} | {cpu} |")
    if results.get("sustained"):
        lines += [
            "",
            "Sustained, producers paced (kept up: everything stored < 5 s after the "
            "last log() and produced → stored p99 < 5 s):",
            "",
            "| target points/s | achieved | kept up | tail s | p50 s | p99 s | cores |",
            "|---:|---:|---|---:|---:|---:|---|",
        ]
        for r in results["sustained"]:
            cpu = ", ".join(f"{k} {v}" for k, v in r["cores"].items())
            lines.append(
                f"| {r['target_points_per_s']:,.0f} | {r['achieved_log_points_per_s']:,} "
                f"| {'yes' if r['kept_up'] else 'no'} | {r['tail_s']} | "
                f"{r['produced_to_stored_p50_s']} | {r['produced_to_stored_p99_s']} "
                f"| {cpu} |"
            )
    if "freshness" in results:
        f = results["freshness"]
        lines += [
            "",
            f"Freshness at {f['load_points_per_s']:,} points/s for {f['seconds']} s "
            f"({f['probes']} probes): log() → queryable p50 {f['p50_s']} s, "
            f"p99 {f['p99_s']} s, max {f['max_s']} s; produced → stored p50 "
            f"{f['produced_to_stored_p50_s']} s, p99 {f['produced_to_stored_p99_s']} s.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000, help="per throughput scenario")
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--keys", type=int, default=10, help="points per log() call")
    parser.add_argument("--batch-size", type=int, default=500, help="worker --batch-size")
    parser.add_argument("--batch-wait", type=float, default=0.05, help="worker --batch-wait")
    parser.add_argument(
        "--sustained-rates",
        type=float,
        nargs="*",
        default=[150_000.0, 250_000.0, 350_000.0],
        help="points/s in total",
    )
    parser.add_argument("--sustained-seconds", type=float, default=30.0)
    parser.add_argument("--fresh-rate", type=float, default=100_000.0)
    parser.add_argument("--fresh-seconds", type=float, default=60.0)
    parser.add_argument("--embedded", action="store_true", help="also drain into chdb in-process")
    parser.add_argument("--skip", nargs="*", default=[], help="scenarios to skip")
    parser.add_argument("--worker-log", default="info", help="worker --log-level")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    bootstrap = os.environ.get("RUNSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    with contextlib.ExitStack() as stack:
        tmp = (
            tempfile.mkdtemp(prefix="rs-pipeline-")
            if args.keep
            else stack.enter_context(tempfile.TemporaryDirectory(prefix="rs-pipeline-"))
        )
        print(f"work directory: {tmp}", file=sys.stderr)
        bench = Bench(bootstrap, Path(tmp), args)
        bench.results["machine"] = {
            "cpus": os.cpu_count(),
            "system": platform.platform(),
            "when": time.strftime("%Y-%m-%d %H:%M"),
        }
        bench.results["settings"] = {
            "points": args.points,
            "producers": args.producers,
            "keys": args.keys,
            "batch_size": args.batch_size,
            "compression": os.environ.get("RUNSTREAM_KAFKA_COMPRESSION", "gzip"),
        }
        topic = sdk_to_kafka(bench) if "sdk_to_kafka" not in args.skip else None
        if topic and "kafka_to_store" not in args.skip:
            kafka_to_store(bench, topic)
        if topic and args.embedded:
            embedded_drain(bench, topic)
        if "end_to_end" not in args.skip:
            end_to_end(bench)
        for rate in args.sustained_rates:
            sustained(bench, rate)
        if "freshness" not in args.skip:
            freshness(bench)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pipeline.json").write_text(json.dumps(bench.results, indent=2) + "\n")
    (args.out / "pipeline.md").write_text(markdown(bench.results))
    print(markdown(bench.results))


if __name__ == "__main__":
    main()
