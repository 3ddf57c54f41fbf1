# ruff: noqa: E501  (SQL text reads better unwrapped)
"""Synthetic store for the dashboard benchmark, written by SQL through the read-write account.

``INSERT ... SELECT FROM numbers()`` into the raw tables, so the store's materialized views
(metric_latest, metric_buckets) fill exactly as on ingest, at a rate the SDK path could not
reach on a small machine. Deterministic: the same sizes give the same store.
"""

from __future__ import annotations

from typing import Any

PROJECTS = ["vision", "nlp", "speech"]


def run_id(n: str) -> str:
    return f"lower(hex(MD5(concat('run-', toString({n})))))"


def generate(
    client: Any, runs: int, points: int, overlay_runs: int, overlay_points: int
) -> dict[str, float]:
    """Fill the store; returns how long each part took (seconds)."""
    import time

    took: dict[str, float] = {}

    def timed(name: str, sql: str) -> None:
        began = time.perf_counter()
        client.command(sql, settings={"max_insert_threads": 2})
        took[name] = round(time.perf_counter() - began, 2)

    total = runs + overlay_runs
    projects = "['" + "','".join(PROJECTS) + "']"
    timed(
        "runs",
        f"""INSERT INTO runstream.runs_started (project, run_id, name, tags, start_time, user,
            hostname, git_commit, heartbeat_interval_ms, run_group, job_type, event_id)
        SELECT {projects}[number % 3 + 1], {run_id("number")}, concat('run-', toString(number)),
            arrayFilter(t -> t != '', [if(number % 2 = 0, 'baseline', ''), if(number % 5 = 0, 'sweep', '')]),
            now64(6) - toIntervalHour(number % 700) - toIntervalHour(1), ['ana', 'bo', ''][number % 3 + 1],
            concat('node-', toString(number % 8)), hex(MD5(toString(number))), 10000,
            ['', 'sweep-a', 'sweep-b'][number % 3 + 1], 'train', concat('rs-', toString(number))
        FROM numbers({total})""",
    )
    timed(
        "finished",
        f"""INSERT INTO runstream.runs_finished (project, run_id, status, end_time, event_id)
        SELECT {projects}[number % 3 + 1], {run_id("number")},
            ['finished', 'finished', 'failed', 'killed'][number % 4 + 1], now64(6) - toIntervalMinute(number % 50),
            concat('rf-', toString(number))
        FROM numbers({total}) WHERE number % 10 != 7""",
    )
    timed(
        "params",
        f"""INSERT INTO runstream.params (project, run_id, key, value_type, value_number, value_text, event_id)
        SELECT {projects}[n % 3 + 1], {run_id("n")}, k,
            if(k = 'optimizer', 'text', 'number'),
            if(k = 'optimizer', NULL, multiIf(k = 'lr', pow(10, -1 - (n % 30) / 10), k = 'batch_size', pow(2, 4 + n % 4), (n % 50) / 100)),
            if(k = 'optimizer', ['adam', 'sgd'][n % 2 + 1], toString(n)), concat('p-', toString(n))
        FROM (SELECT number AS n FROM numbers({total})) ARRAY JOIN ['lr', 'batch_size', 'dropout', 'optimizer'] AS k""",
    )

    def curves(name: str, first: int, count: int, steps: int) -> None:
        # train.loss at every step, eval.loss every 100th, both decreasing with noise
        timed(
            name,
            f"""INSERT INTO runstream.metrics (project, run_id, key, split, step, value, time, event_id, idx)
            SELECT {projects}[r % 3 + 1], {run_id("r")}, 'loss', if(s % 100 = 99 AND s % 2 = 1, 'eval', 'train'), s,
                1 / (1 + s / 1000) + (r % 97) / 1000 + ((s * 7919) % 101) / 1e4,
                now64(6) - toIntervalHour(r % 700) - toIntervalHour(1) + toIntervalMillisecond(s * 10),
                concat('m-', toString(r), '-', toString(intDiv(s, 10000))), toUInt32(s % 10000)
            FROM (SELECT {first} + intDiv(number, {steps}) AS r, number % {steps} AS s FROM numbers({count * steps}))""",
        )

    curves("curves", 0, runs, points)
    curves("overlay", runs, overlay_runs, overlay_points)
    timed(
        "system",
        f"""INSERT INTO runstream.system (project, run_id, hostname, key, time, value, event_id, idx)
        SELECT {projects}[r % 3 + 1], {run_id("r")}, concat('node-', toString(r % 8)), k,
            now64(6) - toIntervalSecond(s * 10), 20 + (r + s) % 70, concat('s-', toString(r)), toUInt32(s)
        FROM (SELECT intDiv(number, 360) AS r, number % 360 AS s FROM numbers(50 * 360))
        ARRAY JOIN ['cpu.percent', 'process.rss_bytes', 'gpu.0.utilization_percent', 'gpu.0.power_watts',
                    'gpu.0.temperature_c', 'gpu.0.memory_used_bytes'] AS k""",
    )
    timed(
        "events",
        """INSERT INTO runstream.events_seen (event_id, project, run_id, kind, seq, produced_at, ingested_at)
        SELECT concat('e-', toString(number)), 'vision', '', 'metrics', number,
            now64(6) - toIntervalSecond(number % 21600) - toIntervalMillisecond(number % 700),
            now64(6) - toIntervalSecond(number % 21600)
        FROM numbers(200000)""",
    )
    client.command(
        """INSERT INTO runstream.dead_letters (received_at, source, reason, detail, event_id, project, run_id, payload)
        SELECT now64(6) - toIntervalSecond(number * 37), 'kafka', ['bad_envelope', 'unknown_kind'][number % 2 + 1],
            'x', toString(number), 'vision', '', '' FROM numbers(500)"""
    )
    client.command("INSERT INTO runstream.pipeline_progress VALUES ('spool', now64(6))")
    client.command(
        f"""INSERT INTO runstream.param_importance (project, run_group, tag, metric, which,
            param, pearson, spearman, rf_importance, permutation_importance, ci_low, ci_high,
            log_scale, kind, runs_used, computed_at)
        SELECT p, '', '', 'train.loss', w, k, 0.5, 0.4, 0.3, 0.2, 0.1, 0.3, k = 'lr', 'numeric', 300, now64(6)
        FROM (SELECT arrayJoin({projects}) AS p) ARRAY JOIN ['final', 'best'] AS w
        ARRAY JOIN ['lr', 'batch_size', 'dropout'] AS k"""
    )
    client.command(
        f"""INSERT INTO runstream.alerts (alert_id, project, run_id, rule, severity, metric, step,
            value, message, detected_at) SELECT toString(number), {projects}[number % 3 + 1], {run_id("number")},
            'nan', 'warning', 'train.loss', 10, nan, 'NaN', now64(6) FROM numbers(100)"""
    )
    return took
