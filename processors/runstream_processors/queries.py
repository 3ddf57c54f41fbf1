"""The questions the CLI asks the store, in SQL over the shared views.

Dashboards and ad hoc SQL read the same views (``runs``, ``run_metrics``,
``run_summary``), so the three ways in never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import run_columns
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
    where: str | None = None
    """A condition in the names of :mod:`run_columns`, e.g. ``params.lr > 0.01``."""
    order_by: tuple[str, ...] = ()
    """SQL from :func:`run_columns.sort_sql`; newest first when empty."""
    descending: bool = True
    run_ids: tuple[str, ...] = ()
    """Only these runs (exact ids) when not empty."""


def rows(client: Any, sql: str, parameters: dict[str, Any] | None = None) -> list[Row]:
    """Query results as dicts (column name → value)."""
    try:
        result = client.query(sql, parameters=parameters or {})
    except Exception as exc:
        raise QueryError(_engine_message(exc)) from exc
    names = result.column_names
    return [dict(zip(names, row, strict=True)) for row in result.result_rows]


def _conditions(where: RunFilter) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions and parameters of a filter, over the columns runs, run_table and
    leaderboard share (``name`` and ``where`` only where the view has them)."""
    conditions: list[str] = ["1"]
    parameters: dict[str, Any] = {"limit": where.limit}
    for column, value in (
        ("project", where.project),
        ("status", where.status),
        ("name", where.name),
        ("run_group", where.group),
    ):
        if value:
            conditions.append(f"{column} = {{{column}:String}}")
            parameters[column] = value
    if where.tag:
        conditions.append("has(tags, {tag:String})")
        parameters["tag"] = where.tag
    if where.run_ids:
        conditions.append("run_id IN {run_ids:Array(String)}")
        parameters["run_ids"] = list(where.run_ids)
    if where.where:
        conditions.append(f"({run_columns.where_sql(where.where)})")
    return conditions, parameters


def list_runs(client: Any, where: RunFilter) -> list[Row]:
    """Runs from ``run_table``: filtered, ordered and limited in SQL."""
    conditions, parameters = _conditions(where)
    direction = "DESC" if where.descending else "ASC"
    order = (
        ", ".join(f"{part} {direction} NULLS LAST" for part in where.order_by)
        if where.order_by
        else "start_time DESC"
    )
    return rows(
        client,
        "SELECT project, run_id, name, status, start_time, duration_s, tags, run_group, "
        "job_type, user, git_commit, steps_per_s, alerts "
        f"FROM runstream.run_table WHERE {' AND '.join(conditions)} "
        f"ORDER BY {order}, run_id LIMIT {{limit:UInt32}}",
        parameters,
    )


def leaderboard(client: Any, metric: str, where: RunFilter, best: bool = True) -> list[Row]:
    """Runs ranked by ``metric``'s best (or final) value, best first, from ``leaderboard``."""
    conditions, parameters = _conditions(where)
    conditions.append("metric = {metric:String}")
    parameters["metric"] = metric
    value = "best_value" if best else "last_value"
    return rows(
        client,
        "SELECT project, run_id, name, status, run_group, tags, best_value, step_of_best, "
        "last_value, last_step, lower_is_better FROM runstream.leaderboard "
        f"WHERE {' AND '.join(conditions)} "
        f"ORDER BY if(lower_is_better, {value}, -{value}) ASC NULLS LAST, start_time DESC "
        "LIMIT {limit:UInt32}",
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
        "SELECT run_id, key, value_type AS type, value FROM runstream.run_params "
        "WHERE run_id IN {ids:Array(String)} ORDER BY key",
        {"ids": list(run_ids)},
    )


def final_metrics(client: Any, run_ids: Sequence[str]) -> list[Row]:
    return rows(
        client,
        "SELECT run_id, metric, last_step, last_value, max_value, step_of_max, min_value, "
        "step_of_min, best_value, step_of_best, lower_is_better, has_nonfinite "
        "FROM runstream.run_metrics "
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
        "SELECT r.*, s.* EXCEPT (project, run_id, name, tags, run_group, job_type, world_size, "
        "user, hostname, git_commit, git_branch, git_dirty, seed, notes, event_id, start_time) "
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


def alerts(client: Any, run_id: str) -> list[Row]:
    return rows(
        client,
        "SELECT detected_at, severity, rule, metric, step, value, message "
        "FROM runstream.run_alerts WHERE run_id = {id:String} "
        "ORDER BY detected_at, indexOf(['critical', 'warning', 'info'], severity), rule",
        {"id": run_id},
    )


def finish_report(client: Any, run_id: str) -> Row | None:
    found = rows(
        client,
        "SELECT not_recorded, nonfinite_values FROM runstream.runs_finished "
        "WHERE run_id = {id:String} LIMIT 1",
        {"id": run_id},
    )
    return found[0] if found else None


def curve(client: Any, run_id: str, key: str, split: str) -> list[Row]:
    """A metric's curve from ``metric_curve``: at most ~1000 buckets, min/max kept.

    Returns rows with ``step`` (bucket start), ``value`` (mean), ``low`` and ``high``.
    """
    return rows(
        client,
        "SELECT step, value, value_min AS low, value_max AS high FROM runstream.metric_curve "
        "WHERE run_id = {id:String} AND key = {key:String} AND split = {split:String} "
        "AND value_min IS NOT NULL ORDER BY step",
        {"id": run_id, "key": key, "split": split},
    )


def curves(client: Any, run_ids: Sequence[str], metrics: Sequence[str]) -> list[Row]:
    """Several runs' curves of several metrics at once, from ``metric_curve``.

    Filters on key and split (they reach the tables' primary keys), then on the metric name.
    """
    # "train.loss" is split "train", key "loss", unless its key is "train.loss" (no split)
    pairs = [("", metric) for metric in metrics] + [
        (split, key) for split, _, key in (m.partition(".") for m in metrics) if key
    ]
    return rows(
        client,
        "SELECT run_id, metric, step, value, value_min AS low, value_max AS high "
        "FROM runstream.metric_curve WHERE run_id IN {ids:Array(String)} "
        "AND key IN {keys:Array(String)} AND split IN {splits:Array(String)} "
        "AND metric IN {metrics:Array(String)} AND value_min IS NOT NULL "
        "ORDER BY run_id, metric, step",
        {
            "ids": list(run_ids),
            "keys": sorted({key for _, key in pairs}),
            "splits": sorted({split for split, _ in pairs}),
            "metrics": list(metrics),
        },
    )


def param_importance(
    client: Any,
    run_ids: Sequence[str],
    metric: str,
    project: str | None = None,
    group: str | None = None,
    tag: str | None = None,
    stored: bool = True,
) -> tuple[str, list[Row]]:
    """How much each param moves ``metric`` over these runs: (method, rows best first).

    Rows have ``param``, ``score`` (signed where the method has a sign), ``pearson`` and
    ``runs_used``. Read from ``param_importance_latest`` (best values) where it holds the
    metric for this project, group and tag ('' where not given: what the refresh after runs
    finish computes) and ``stored`` allows it, else Pearson correlation of each numeric
    param with the metric's best value over ``run_ids``, computed here in SQL. The one place
    the report's importance comes from.
    """
    if stored:
        found = rows(
            client,
            "SELECT param, rf_importance AS score, pearson, runs_used "
            "FROM runstream.param_importance_latest WHERE metric = {metric:String} "
            "AND which = 'best' AND (project = {project:String} OR {project:String} = '') "
            "AND run_group = {group:String} AND tag = {tag:String} AND kind != 'constant' "
            "ORDER BY computed_at DESC LIMIT 1 BY param",
            {"metric": metric, "project": project or "", "group": group or "", "tag": tag or ""},
        )
        if any(row["score"] is not None for row in found):
            found.sort(key=lambda row: -(row["score"] or 0.0))
            return "random-forest importance", found
    correlated = rows(
        client,
        "SELECT param, corr(x, y) AS pearson, pearson AS score, count() AS runs_used FROM ("
        "SELECT metrics_best[{metric:String}] AS y, arrayJoin(mapKeys(params_number)) AS param, "
        "params_number[param] AS x FROM runstream.run_table "
        "WHERE run_id IN {ids:Array(String)} AND mapContains(metrics_best, {metric:String})"
        ") GROUP BY param HAVING runs_used >= 3 AND isFinite(pearson) "
        "ORDER BY abs(pearson) DESC, param",
        {"ids": list(run_ids), "metric": metric},
    )
    return "Pearson correlation", correlated


def _engine_message(exc: Exception) -> str:
    text = str(exc).strip()
    for marker in ("DB::Exception: ", "Exception: "):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    return text.split("\n", 1)[0]


EVALUABLE_COLUMNS = (
    "sample_id, prediction, label, class_names, task, probabilities, scores, slices, "
    "prediction_value, target, event_id, toUnixTimestamp64Nano(time) AS time_ns"
)


def evaluable_samples(
    client: Any, run_id: str, split: str, step: int | None = None
) -> tuple[int | None, list[Row]]:
    """The samples of a run's split at ``step`` (default: the newest step that has any)."""
    if step is None:
        found = rows(
            client,
            "SELECT max(step) AS step, count() AS n FROM runstream.samples "
            "WHERE run_id = {id:String} AND split = {split:String}",
            {"id": run_id, "split": split},
        )
        if not found or not found[0]["n"]:
            return None, []
        step = int(found[0]["step"])
    return step, rows(
        client,
        f"SELECT {EVALUABLE_COLUMNS} FROM runstream.samples "
        "WHERE run_id = {id:String} AND split = {split:String} AND step = {step:Int64} "
        "ORDER BY event_id, idx",
        {"id": run_id, "split": split, "step": step},
    )


def evaluation_metrics(client: Any, run_ids: Sequence[str]) -> list[Row]:
    """The newest evaluation's overall numbers (no slice, no class) of each run and split."""
    return rows(
        client,
        "SELECT run_id, split, baseline, metric, value FROM runstream.evaluation_metrics "
        "WHERE run_id IN {ids:Array(String)} AND slice_key = '' AND class_name = '' "
        "ORDER BY split, metric, baseline",
        {"ids": list(run_ids)},
    )


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
