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


# -- datasets ------------------------------------------------------------------------------


def dataset_versions(client: Any, name: str | None = None, project: str | None = None) -> list[Row]:
    """Every version of every dataset (or of ``name``), oldest first, with how many runs used it."""
    conditions = ["1"]
    parameters: dict[str, Any] = {}
    if name:
        conditions.append("name = {name:String}")
        parameters["name"] = name
    if project:
        conditions.append("project = {project:String}")
        parameters["project"] = project
    return rows(
        client,
        "SELECT project, name, version, any(role) AS role, any(root) AS root, "
        "max(stored) AS stored, any(file_count) AS files, any(total_bytes) AS bytes, "
        "min(time) AS first_logged, max(time) AS last_logged, uniqExact(run_id) AS runs "
        f"FROM runstream.datasets WHERE {' AND '.join(conditions)} "
        "GROUP BY project, name, version ORDER BY project, name, first_logged",
        parameters,
    )


def dataset_manifest(client: Any, name: str, version: str) -> list[Row]:
    """The files of one version (path, size_bytes, sha256), by path."""
    return rows(
        client,
        "SELECT f.1 AS path, f.2 AS size_bytes, f.3 AS sha256 FROM "
        "(SELECT arrayZip(files.path, files.size_bytes, files.sha256) AS all_files "
        "FROM runstream.datasets WHERE name = {name:String} AND version = {version:String} "
        "LIMIT 1) ARRAY JOIN all_files AS f ORDER BY path",
        {"name": name, "version": version},
    )


def dataset_runs(client: Any, name: str, version: str) -> list[Row]:
    """The runs that logged one version, and in which role, oldest first."""
    return rows(
        client,
        "SELECT d.run_id AS run_id, r.name AS run, r.status AS status, d.role AS role, "
        "min(d.time) AS time FROM runstream.datasets AS d "
        "LEFT JOIN runstream.runs AS r ON r.run_id = d.run_id "
        "WHERE d.name = {name:String} AND d.version = {version:String} "
        "GROUP BY run_id, run, status, role ORDER BY time",
        {"name": name, "version": version},
    )


def run_datasets(client: Any, run_id: str) -> list[Row]:
    """The dataset versions one run logged, with their manifests, in logging order."""
    return rows(
        client,
        "SELECT name, version, role, root, stored, files.path AS paths, "
        "files.size_bytes AS sizes, files.sha256 AS digests, time FROM runstream.datasets "
        "WHERE run_id = {id:String} ORDER BY time LIMIT 1 BY name, version, role",
        {"id": run_id},
    )


def run_metric_points(client: Any, run_id: str) -> list[Row]:
    """Every metric point of a run (split, key, step, value) in logging order per key; an
    event stored twice counts once."""
    return rows(
        client,
        "SELECT split, key, step, value FROM (SELECT split, key, step, value, time, idx, "
        "event_id FROM runstream.metrics WHERE run_id = {id:String} LIMIT 1 BY event_id, idx) "
        "ORDER BY split, key, step, time, idx",
        {"id": run_id},
    )


def reproductions(client: Any, run_id: str) -> list[Row]:
    """Runs that reproduce ``run_id``, newest first."""
    return rows(
        client,
        "SELECT run_id, name, start_time FROM runstream.runs_started "
        "WHERE reproduces = {id:String} ORDER BY start_time DESC LIMIT 1 BY run_id",
        {"id": run_id},
    )


def artifacts_of_kind(client: Any, run_id: str, kind: str) -> list[Row]:
    """A run's artifacts of one kind (``code-diff``, ``code-snapshot``, ``requirements``) with
    their metadata, newest first."""
    return rows(
        client,
        "SELECT name, kind, sha256, size_bytes, uri, metadata, time FROM runstream.artifacts "
        "WHERE run_id = {id:String} AND kind = {kind:String} "
        "ORDER BY time DESC LIMIT 1 BY name, sha256",
        {"id": run_id, "kind": kind},
    )
