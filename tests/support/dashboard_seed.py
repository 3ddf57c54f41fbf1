"""Seeded data for the dashboard proof: several projects, ~50 runs, a long run, trouble.

Runs are logged through the SDK into the spool (taken in by the server's own ingest),
except what the SDK cannot fabricate quickly on a loaded machine: the long run's points
(INSERT ... SELECT FROM numbers(), so the store's materialized views fill as they would
on ingest), system samples with chosen times, artifacts, dead letters, importance results and
alerts.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import runstream
from runstream.spool import SpoolWriter
from runstream.wire import events_pb2 as pb

PROJECTS = ["vision", "nlp", "speech.v2"]
HOSTILE = [
    "x' OR 1=1 OR 'a",
    "x\\",
    "\\' OR throwIf(1, (SELECT any(line) FROM file('/etc/passwd', 'LineAsString'))) OR 1 -- ",
    "a,b}{c",
    "${project} $__timeFilter(t) [[run]] %27",
]
RUNS = 48
STEPS = 30
SECOND = 1_000_000_000


@dataclass
class Seed:
    runs: dict[str, tuple[str, str]] = field(default_factory=dict)  # id: (name, project)
    long_run: str = ""
    long_steps: int = 0
    crashed: str = ""
    stalled: str = ""
    with_system: list[str] = field(default_factory=list)
    insert_seconds: float = 0.0  # how long the long run's points took to go in


def log_runs(seed: Seed) -> None:
    """~50 finished runs through the SDK: params, train/eval curves, samples, NaNs, hostile keys."""
    rng = random.Random(7)
    for index in range(RUNS):
        project = PROJECTS[index % len(PROJECTS)]
        hostile = HOSTILE[index % len(HOSTILE)] if index % 7 == 3 else None
        config: dict[str, Any] = {
            "lr": 10 ** rng.uniform(-4, -1),
            "batch_size": rng.choice([16, 32, 64]),
            "dropout": round(rng.uniform(0, 0.5), 2),
            "optimizer": rng.choice(["adam", "sgd"]),
        }
        if hostile:
            config[hostile] = hostile
        with runstream.init(
            project=project,
            name=hostile or f"run-{index:02d}",
            tags=[t for t in ("baseline", "sweep", hostile) if t and rng.random() < 0.6],
            group=["", "sweep-a", "sweep-b"][index % 3],
            config=config,
            system_interval=None,
        ) as run:
            quality = 1 / (1 + 100 * config["lr"]) + config["dropout"] / 5
            for step in range(STEPS):
                loss = quality / (1 + step) + rng.random() / 50
                if index == 5 and step == 10:
                    loss = math.nan
                run.log({"loss": loss, "accuracy": 1 - loss}, step=step, split="train")
                if step % 10 == 9:
                    run.log(
                        {"loss": loss * 1.1, "accuracy": 1 - loss * 1.1}, step=step, split="eval"
                    )
                if hostile:
                    run.log({hostile: step}, step=step)
            run.log_samples(["a cat", "a dog"], ["cat", "cat"], ["cat", "dog"], step=STEPS - 1)
            seed.runs[run.id] = (hostile or f"run-{index:02d}", project)
    with runstream.init(project="vision", name="long", tags=["long"], system_interval=None) as run:
        run.log({"loss": 1.0}, step=0, split="train")
        seed.long_run = run.id
        seed.runs[run.id] = ("long", "vision")


def fabricate_trouble(spool_dir: Path, seed: Seed) -> None:
    """A crashed run (heartbeats stopped) and a stalled one (beats, but logs nothing for hours);
    the same rules as tests/processors/test_liveness.py."""
    now = time.time_ns()
    envelopes: list[pb.Envelope] = []

    def run(name: str, interval_ms: int, started_s: float, beat_s: float, log_s: float) -> str:
        run_id = uuid.uuid4().hex
        for seq, (at, payload) in enumerate(
            [
                (
                    started_s,
                    {"run_started": pb.RunStarted(name=name, heartbeat_interval_ms=interval_ms)},
                ),
                (
                    beat_s,
                    {
                        "heartbeat": pb.Heartbeat(
                            interval_ms=interval_ms,
                            last_log_unix_nano=now + int(log_s * SECOND),
                            log_calls=1,
                        )
                    },
                ),
            ],
            start=1,
        ):
            envelopes.append(
                pb.Envelope(
                    event_id=uuid.uuid4().hex,
                    project="nlp",
                    run_id=run_id,
                    seq=seq,
                    time_unix_nano=now + int(at * SECOND),
                    **payload,  # type: ignore[arg-type]
                )
            )
        return run_id

    seed.crashed = run("crashed", 500, -120.0, -60.0, -61.0)
    seed.stalled = run("stalled", 600_000, -6 * 3600.0, -1.0, -5.5 * 3600.0)
    seed.runs[seed.crashed] = ("crashed", "nlp")
    seed.runs[seed.stalled] = ("stalled", "nlp")
    writer = SpoolWriter(spool_dir)
    writer.append([e.SerializeToString() for e in envelopes])
    writer.close()


# A `runstream eval` result for every run, as the evaluation kind's rows would hold it: a
# slice table (parity), a 2×2 confusion matrix and 15 calibration bins.
EVALUATIONS = [
    """INSERT INTO runstream.evaluation_runs (project, run_id, split, step, task, sample_count,
        class_names, options, time, event_id)
    SELECT project, run_id, 'eval', 0, 'classification', 100, ['cat', 'dog'], map(),
        now64(6), concat('eval-', run_id) FROM runstream.runs_started""",
    """INSERT INTO runstream.evaluations (project, run_id, split, step, baseline, slice_key,
        slice_value, metric, class_name, value, ci_low, ci_high, count, time, event_id, idx)
    SELECT project, run_id, 'eval', 0, '', 'parity', parity, 'accuracy', '',
        0.8 + 0.1 * (parity = 'even'), 0.7, 0.95, 50, now64(6), concat('eval-', run_id), 0
    FROM runstream.runs_started ARRAY JOIN ['even', 'odd'] AS parity""",
    """INSERT INTO runstream.evaluation_confusion (project, run_id, split, label, prediction,
        count, event_id, idx)
    SELECT project, run_id, 'eval', cell.1, cell.2, cell.3, concat('eval-', run_id), 0
    FROM runstream.runs_started
    ARRAY JOIN [('cat', 'cat', 40), ('cat', 'dog', 10), ('dog', 'cat', 5), ('dog', 'dog', 45)]
        AS cell""",
    """INSERT INTO runstream.evaluation_calibration (project, run_id, split, bin, bin_low,
        bin_high, confidence, accuracy, count, event_id, idx)
    SELECT project, run_id, 'eval', bin, bin / 15, (bin + 1) / 15, (bin + 0.5) / 15,
        least(1, (bin + 0.5) / 15 + 0.02), 7, concat('eval-', run_id), bin
    FROM runstream.runs_started ARRAY JOIN range(15) AS bin""",
]


def insert_rest(client: Any, seed: Seed, long_steps: int) -> None:
    """What goes in by SQL (see the module docstring), through the read-write account."""
    # the spool intake's mark that it caught up (its own loop is off in the test's server),
    # after which a run whose heartbeats stopped is crashed rather than delayed
    client.command("INSERT INTO runstream.pipeline_progress VALUES ('spool', now64(6))")
    for statement in EVALUATIONS:
        client.command(statement)
    start = client.query(
        f"SELECT min(start_time) FROM runstream.runs_started WHERE run_id = '{seed.long_run}'"
    ).result_rows[0][0]
    began = time.monotonic()
    client.command(
        f"""INSERT INTO runstream.metrics
            (project, run_id, key, split, step, value, time, event_id, idx)
        SELECT 'vision', '{seed.long_run}', key, 'train', number + 1,
            if(number % 100000 = 77, nan, 1 / (1 + number / 1000) + (number % 97) / 1e4),
            toDateTime64('{start}', 6, 'UTC') + toIntervalMillisecond(number),
            concat('long-', toString(intDiv(number, 10000))), toUInt32(number % 10000)
        FROM numbers({long_steps}) ARRAY JOIN ['loss', 'accuracy'] AS key"""
    )
    seed.long_steps = long_steps
    seed.insert_seconds = time.monotonic() - began
    seed.with_system = [*sorted(seed.runs)[:6], seed.long_run]
    rows = []
    now = time.time()
    keys = [
        "cpu.percent",
        "process.cpu_percent",
        "process.rss_bytes",
        "gpu.0.utilization_percent",
        "gpu.0.memory_used_bytes",
        "gpu.0.power_watts",
        "gpu.0.temperature_c",
    ]
    for n, run_id in enumerate(seed.with_system):
        project = seed.runs[run_id][1]
        for host in ("node-a", "node-b" if n % 2 else "node-a"):
            for key in keys:
                for minute in range(30):
                    value = (
                        math.nan
                        if (key == "gpu.0.power_watts" and minute == 3)
                        else 10.0 + n + minute
                    )
                    rows.append(
                        [project, run_id, host, key, now - 60 * minute, value, f"sys-{n}", minute]
                    )
    client.insert(
        "runstream.system",
        [[p, r, h, k, _dt(t), v, e, i] for p, r, h, k, t, v, e, i in rows],
        column_names=["project", "run_id", "hostname", "key", "time", "value", "event_id", "idx"],
    )
    some = sorted(seed.runs)[:3]
    client.insert(
        "runstream.artifacts",
        [
            [
                seed.runs[r][1],
                r,
                f"model-{i}.pt",
                "model",
                "ab" * 32,
                1024 * (i + 1),
                f"file:///m{i}",
                "",
                {},
                _dt(now),
                f"art-{i}",
            ]
            for i, r in enumerate(some)
        ],
        column_names=[
            "project",
            "run_id",
            "name",
            "kind",
            "sha256",
            "size_bytes",
            "uri",
            "source_path",
            "metadata",
            "time",
            "event_id",
        ],
    )
    client.insert(
        "runstream.dead_letters",
        [
            [
                _dt(now - 60 * i),
                "spool",
                ["bad_envelope", "unknown_kind", HOSTILE[0]][i % 3],
                "detail",
                f"dl-{i}",
                "nlp",
                "",
                "",
            ]
            for i in range(9)
        ],
        column_names=[
            "received_at",
            "source",
            "reason",
            "detail",
            "event_id",
            "project",
            "run_id",
            "payload",
        ],
    )
    client.insert(
        "runstream.param_importance",
        [
            [
                p,
                "",
                "",
                "train.loss",
                which,
                param,
                0.5,
                0.4,
                0.3,
                0.2,
                0.1,
                0.3,
                param == "lr",
                "numeric",
                16,
                _dt(now),
            ]
            for p in PROJECTS
            for which in ("final", "best")
            for param in ("lr", "dropout", "batch_size")
        ],
        column_names=[
            "project",
            "run_group",
            "tag",
            "metric",
            "which",
            "param",
            "pearson",
            "spearman",
            "rf_importance",
            "permutation_importance",
            "ci_low",
            "ci_high",
            "log_scale",
            "kind",
            "runs_used",
            "computed_at",
        ],
    )
    client.insert(
        "runstream.alerts",
        [
            [
                f"al-{i}",
                seed.runs[r][1],
                r,
                "nan",
                "warning",
                "train.loss",
                10,
                math.nan,
                "NaN in train.loss",
                _dt(now),
            ]
            for i, r in enumerate(some)
        ],
        column_names=[
            "alert_id",
            "project",
            "run_id",
            "rule",
            "severity",
            "metric",
            "step",
            "value",
            "message",
            "detected_at",
        ],
    )


def _dt(unix: float) -> Any:
    import datetime

    return datetime.datetime.fromtimestamp(unix, datetime.UTC)


def chosen_runs(
    options: list[tuple[str, str]], count: int, first: str | None = None
) -> Iterator[str]:
    """``count`` single-run options (the combined "top N" option left out), ``first`` first."""
    ids = [value for value, _ in options if "," not in value]
    if first in ids:
        ids.remove(first)
        ids.insert(0, first)  # type: ignore[arg-type]
    yield from ids[:count]
