"""The questions the CLI asks the store, in SQL over the shared views.

Dashboards and ad hoc SQL read the same views (``runs``, ``run_metrics``,
``run_summary``), so the three ways in never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import QueryError

Row = dict[str, Any]


@dataclass(frozen=True)
class RunFilter:
    project: str | None = None
    tag: str | None = None
    status: str | None = None
    name: str | None = None
    limit: int = 50
    group: str | None = None
    """A sweep, a distributed job, an ablation: ``init(group=...)``."""


def rows(client: Any, sql: str, parameters: dict[str, Any] | None = None) -> list[Row]:
    """Query results as dicts (column name → value)."""
    try:
        result = client.query(sql, parameters=parameters or {})
    except Exception as exc:
        raise QueryError(_engine_message(exc)) from exc
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def list_runs(client: Any, where: RunFilter) -> list[Row]:
    conditions: list[str] = ["1"]
    parameters: dict[str, Any] = {"limit": where.limit}
    for column, value in (
        ("project", where.project),
        ("status", where.status),
        ("name", where.name),
    ):
        if value:
            conditions.append(f"{column} = {{{column}:String}}")
            parameters[column] = value
    if where.tag:
        conditions.append("has(tags, {tag:String})")
        parameters["tag"] = where.tag
    if where.group:
        conditions.append(
            "run_id IN (SELECT run_id FROM runstream.runs_started WHERE run_group = {group:String})"
        )
        parameters["group"] = where.group
    return rows(
        client,
        "SELECT project, run_id, name, status, start_time, duration_s, tags, user, git_commit "
        f"FROM runstream.runs WHERE {' AND '.join(conditions)} "
        "ORDER BY start_time DESC LIMIT {limit:UInt32}",
        parameters,
    )


def resolve_run(client: Any, reference: str) -> Row:
    """A run by id, unique id prefix, or name (the latest run with that name)."""
    found = rows(
        client,
        "SELECT project, run_id, name, start_time FROM runstream.runs "
        "WHERE run_id = {ref:String} OR name = {ref:String} "
        "OR (length({ref:String}) >= 4 AND startsWith(run_id, {ref:String})) "
        "ORDER BY run_id = {ref:String} DESC, start_time DESC",
        {"ref": reference},
    )
    if not found:
        raise QueryError(f"no run matches {reference!r} (by id, id prefix or name)")
    exact = [run for run in found if run["run_id"] == reference]
    if exact:
        return exact[0]
    by_prefix = [run for run in found if run["run_id"].startswith(reference)]
    if len(by_prefix) > 1:
        ids = ", ".join(run["run_id"][:12] for run in by_prefix[:5])
        raise QueryError(f"run id prefix {reference!r} is ambiguous: {ids}")
    return by_prefix[0] if by_prefix else found[0]  # names: newest first


def params(client: Any, run_ids: Sequence[str]) -> list[Row]:
    return rows(
        client,
        "SELECT run_id, key, any(value_type) AS type, any(value_text) AS value "
        "FROM runstream.params WHERE run_id IN {ids:Array(String)} "
        "GROUP BY run_id, key ORDER BY key",
        {"ids": list(run_ids)},
    )


def final_metrics(client: Any, run_ids: Sequence[str]) -> list[Row]:
    return rows(
        client,
        "SELECT run_id, metric, last_step, last_value, max_value, step_of_max, min_value, "
        "step_of_min, has_nonfinite FROM runstream.run_metrics "
        "WHERE run_id IN {ids:Array(String)} ORDER BY metric",
        {"ids": list(run_ids)},
    )


def summary(client: Any, run_id: str) -> list[Row]:
    return rows(
        client,
        "SELECT key, value_type AS type, value_text AS value FROM runstream.run_summary "
        "WHERE run_id = {id:String} ORDER BY key",
        {"id": run_id},
    )


def run_detail(client: Any, run_id: str) -> Row:
    found = rows(
        client,
        "SELECT r.*, s.* EXCEPT (project, run_id, name, tags, user, hostname, git_commit, "
        "git_branch, git_dirty, seed, notes, event_id, start_time) "
        "FROM runstream.runs AS r INNER JOIN "
        "(SELECT * FROM runstream.runs_started WHERE run_id = {id:String} LIMIT 1) AS s "
        "ON r.run_id = s.run_id WHERE r.run_id = {id:String}",
        {"id": run_id},
    )
    if not found:
        raise QueryError(f"run {run_id} not found")
    return found[0]


def artifacts(client: Any, run_id: str) -> list[Row]:
    return rows(
        client,
        "SELECT name, kind, sha256, size_bytes, uri, time FROM runstream.artifacts "
        "WHERE run_id = {id:String} ORDER BY time LIMIT 1 BY name, sha256",
        {"id": run_id},
    )


def packages(client: Any, run_id: str) -> list[Row]:
    return rows(
        client,
        "SELECT DISTINCT name, version FROM runstream.packages "
        "WHERE run_id = {id:String} ORDER BY name",
        {"id": run_id},
    )


def samples(client: Any, run_id: str, limit: int = 10) -> list[Row]:
    return rows(
        client,
        "SELECT split, step, sample_id, input, prediction, label, correct FROM runstream.samples "
        "WHERE run_id = {id:String} ORDER BY step DESC, idx LIMIT {limit:UInt32}",
        {"id": run_id, "limit": limit},
    )


def finish_report(client: Any, run_id: str) -> Row | None:
    found = rows(
        client,
        "SELECT not_recorded, nonfinite_values FROM runstream.runs_finished "
        "WHERE run_id = {id:String} LIMIT 1",
        {"id": run_id},
    )
    return found[0] if found else None


def curve(client: Any, run_id: str, key: str, split: str, points: int = 1000) -> list[Row]:
    """A metric's curve, averaged into at most ``points`` step buckets (min/max kept).

    Returns rows with ``step`` (bucket start), ``value`` (mean), ``low`` and ``high``.
    """
    span = rows(
        client,
        "SELECT min(step) AS lo, max(step) AS hi FROM runstream.metrics "
        "WHERE run_id = {id:String} AND key = {key:String} AND split = {split:String}",
        {"id": run_id, "key": key, "split": split},
    )[0]
    bucket = (
        max(1, -(-(int(span["hi"]) - int(span["lo"]) + 1) // points))
        if span["hi"] is not None
        else 1
    )
    points_rows = rows(
        client,
        "SELECT intDiv(m.step, {b:Int64}) * {b:Int64} AS bucket, avg(m.value) AS mean, "
        "min(m.value) AS low, max(m.value) AS high FROM runstream.metrics AS m "
        "WHERE m.run_id = {id:String} AND m.key = {key:String} AND m.split = {split:String} "
        "AND isFinite(m.value) GROUP BY bucket ORDER BY bucket",
        {"id": run_id, "key": key, "split": split, "b": bucket},
    )
    return [
        {"step": row["bucket"], "value": row["mean"], "low": row["low"], "high": row["high"]}
        for row in points_rows
    ]


def _engine_message(exc: Exception) -> str:
    text = str(exc).strip()
    for marker in ("DB::Exception: ", "Exception: "):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    return text.split("\n", 1)[0]


def group_trials(client: Any, group: str, objective: str) -> list[Row]:
    """The runs of ``group`` but its sweep record, each with its value of ``objective``: the
    final value of that metric (``split.key``), else the summary entry of that name."""
    return rows(
        client,
        "SELECT s.run_id AS run_id, s.name AS name, "
        "if(m.run_id != '', m.last_value, u.value_number) AS objective "
        "FROM (SELECT run_id, any(name) AS name FROM runstream.runs_started "
        "      WHERE run_group = {group:String} AND job_type != 'sweep' GROUP BY run_id) AS s "
        "LEFT JOIN (SELECT run_id, last_value FROM runstream.run_metrics "
        "           WHERE metric = {objective:String}) AS m ON m.run_id = s.run_id "
        "LEFT JOIN (SELECT run_id, value_number FROM runstream.run_summary "
        "           WHERE key = {objective:String} AND value_type != 'text') AS u "
        "      ON u.run_id = s.run_id "
        "WHERE m.run_id != '' OR u.run_id != '' ORDER BY s.name",
        {"group": group, "objective": objective},
    )


def sweep_settings(client: Any, group: str) -> dict[str, str]:
    """The ``sweep.*`` config of the group's sweep record (``runstream.sweep``), if any."""
    found = rows(
        client,
        "SELECT key, any(value_text) AS value FROM runstream.params "
        "WHERE key LIKE 'sweep.%' AND run_id IN (SELECT run_id FROM runstream.runs_started "
        "WHERE run_group = {group:String} AND job_type = 'sweep') GROUP BY key",
        {"group": group},
    )
    return {row["key"]: row["value"] for row in found}
