#!/usr/bin/env python3
"""What going through ``runstream store serve`` costs, next to the same work in-process.

The same clickhouse-connect calls run twice: against the server (chdb_http, started
as ``runstream store serve``: HTTP on loopback, a subprocess owning its own store) and
in-process (``chdb://`` on another store in this process, no HTTP). Measured:

* a small query (``SELECT 1``), sequential, p50/p99;
* a 1M-row result in Native (``raw_query``, so client-side decoding is not timed);
* a 1M-row insert (``insert_arrow`` of UInt64, String, Float64);
* sustained load on the server: reader threads run a small aggregate in a loop while
  one writer inserts 10k-row batches; p50/p99 per kind, throughput, and errors (must be 0).

Run from the repository root (about 2 minutes on 2 cores)::

    .venv/bin/python benchmarks/server/bench_server.py

Results go to ``benchmarks/server/results.json`` and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import clickhouse_connect
import pyarrow as pa

PASSWORD = "bench"
ROWS = 1_000_000
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env.update(RUNSTREAM_DIR=str(root), RUNSTREAM_SERVER_PASSWORD=PASSWORD)
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
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed(function: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return times


def arrow_rows(count: int, offset: int = 0) -> pa.Table:
    ids = pa.array(range(offset, offset + count), pa.uint64())
    return pa.table(
        {
            "id": ids,
            "name": pa.array([f"name-{i % 1000}" for i in range(count)]),
            "value": pa.array([i * 0.5 for i in range(count)], pa.float64()),
        }
    )


def prepare(client: Any) -> None:
    client.command("DROP TABLE IF EXISTS bench")
    client.command(
        "CREATE TABLE bench (id UInt64, name String, value Float64) ENGINE = MergeTree ORDER BY id"
    )


def single_client(client: Any, repeat_small: int, repeat_big: int) -> dict[str, Any]:
    prepare(client)
    small = timed(lambda: client.command("SELECT 1"), repeat_small)
    data = arrow_rows(ROWS)
    inserts = []
    for _ in range(repeat_big):
        client.command("TRUNCATE TABLE bench")
        inserts += timed(lambda: client.insert_arrow("bench", data), 1)
    big_query = "SELECT id, name, value FROM bench"
    results = timed(lambda: client.raw_query(big_query, fmt="Native"), repeat_big)
    size = len(client.raw_query(big_query, fmt="Native"))
    return {
        "small_query_ms": {"p50": percentile(small, 50), "p99": percentile(small, 99)},
        "native_1m_rows_ms": statistics.median(results),
        "native_1m_rows_bytes": size,
        "insert_1m_rows_ms": statistics.median(inserts),
    }


def load(port: int, readers: int, seconds: float) -> dict[str, Any]:
    """Readers query in a loop while one writer inserts; every call's latency is kept."""
    setup = clickhouse_connect.get_client(host="127.0.0.1", port=port, password=PASSWORD)
    prepare(setup)
    setup.insert_arrow("bench", arrow_rows(100_000))
    stop = time.monotonic() + seconds
    latencies: dict[str, list[float]] = {"read": [], "insert": []}
    errors: list[str] = []
    lock = threading.Lock()

    def loop(kind: str, call: Callable[[Any, int], Any]) -> None:
        client = clickhouse_connect.get_client(host="127.0.0.1", port=port, password=PASSWORD)
        n = 0
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                call(client, n)
            except Exception as exc:  # counted and reported: the bar is zero
                with lock:
                    errors.append(f"{kind}: {exc}")
            with lock:
                latencies[kind].append((time.perf_counter() - start) * 1000)
            n += 1
        client.close()

    def read(client: Any, n: int) -> None:
        client.query(
            "SELECT name, count(), avg(value) FROM bench WHERE id % 7 = {k:UInt8} "
            "GROUP BY name ORDER BY name LIMIT 10",
            parameters={"k": n % 7},
        )

    batch = arrow_rows(10_000)

    def write(client: Any, n: int) -> None:
        client.insert_arrow("bench", batch)

    threads = [threading.Thread(target=loop, args=("read", read)) for _ in range(readers)]
    threads.append(threading.Thread(target=loop, args=("insert", write)))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    rows = setup.command("SELECT count() FROM bench")
    setup.close()
    return {
        "readers": readers,
        "seconds": round(elapsed, 1),
        "errors": len(errors),
        "error_samples": errors[:3],
        "rows_after": rows,
        **{f"{kind}_calls": len(values) for kind, values in latencies.items()},
        **{
            f"{kind}_ms": {"p50": percentile(values, 50), "p99": percentile(values, 99)}
            for kind, values in latencies.items()
            if values
        },
        "reads_per_s": round(len(latencies["read"]) / elapsed, 1),
    }


def markdown(result: dict[str, Any]) -> str:
    server, local = result["server"], result["in_process"]
    rows = [
        ("small query p50 (ms)", local["small_query_ms"]["p50"], server["small_query_ms"]["p50"]),
        ("small query p99 (ms)", local["small_query_ms"]["p99"], server["small_query_ms"]["p99"]),
        ("1M rows out, Native (ms)", local["native_1m_rows_ms"], server["native_1m_rows_ms"]),
        ("1M rows in, insert_arrow (ms)", local["insert_1m_rows_ms"], server["insert_1m_rows_ms"]),
    ]
    lines = ["| measure | in-process chdb:// | through the server |", "|---|---:|---:|"]
    lines += [f"| {name} | {a:.1f} | {b:.1f} |" for name, a, b in rows]
    conc = result["concurrent"]
    lines += [
        "",
        f"Sustained load: {conc['readers']} readers + 1 writer for {conc['seconds']} s: "
        f"{conc['read_calls']} reads ({conc['reads_per_s']}/s), p50 "
        f"{conc['read_ms']['p50']:.1f} ms, p99 {conc['read_ms']['p99']:.1f} ms; "
        f"{conc['insert_calls']} inserts of 10k rows, p50 {conc['insert_ms']['p50']:.1f} ms, "
        f"p99 {conc['insert_ms']['p99']:.1f} ms; errors: {conc['errors']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=300, help="small queries per side")
    parser.add_argument("--big", type=int, default=3, help="repeats of the 1M-row measures")
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="duration of the load phase")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        process, port = start_server(Path(tmp) / "served")
        try:
            remote = clickhouse_connect.get_client(host="127.0.0.1", port=port, password=PASSWORD)
            server = single_client(remote, options.small, options.big)
            remote.close()
            local_client = clickhouse_connect.get_client(dsn=f"chdb://{Path(tmp) / 'local'}")
            local = single_client(local_client, options.small, options.big)
            local_client.close()
            concurrent = load(port, options.readers, options.seconds)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "date": time.strftime("%Y-%m-%d"),
        "server": server,
        "in_process": local,
        "concurrent": concurrent,
    }
    options.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
