"""``runstream show RUN``: everything recorded about one run."""

from __future__ import annotations

from typing import Any

import click

from .. import queries
from .context import settings_from
from .output import emit_document, format_option
from .session import store_for_query

_RUN_FIELDS = (
    "project",
    "run_id",
    "name",
    "status",
    "start_time",
    "end_time",
    "duration_s",
    "last_seen",
    "tags",
    "user",
    "hostname",
    "seed",
    "notes",
    "command",
    "working_dir",
    "reproduces",
)
_ENV_FIELDS = (
    "python_version",
    "python_executable",
    "os",
    "cpu_model",
    "cpu_count",
    "memory_total_bytes",
    "gpu_count",
    "gpu_names",
    "gpu_driver_version",
    "cuda_version",
    "sdk_version",
    "determinism",
)


@click.command("show")
@click.argument("run")
@click.option("--packages", is_flag=True, help="list every installed package and version")
@format_option
@click.pass_context
def show_command(ctx: click.Context, run: str, packages: bool, output_format: str) -> None:
    """Params, environment, git, metrics, summary, artifacts, samples of RUN (id, prefix, name)."""
    with store_for_query(settings_from(ctx), "runstream show") as client:
        found = queries.resolve_run(client, run)
        run_id = found["run_id"]
        detail = queries.run_detail(client, run_id)
        document: dict[str, Any] = {
            "run": {field: detail.get(field) for field in _RUN_FIELDS},
            "git": {
                field: detail.get(f"git_{field}")
                for field in ("commit", "branch", "remote", "dirty", "diff_sha256")
            },
            "environment": {field: detail.get(field) for field in _ENV_FIELDS},
            "params": [
                {"key": p["key"], "value": p["value"], "type": p["type"]}
                for p in queries.params(client, [run_id])
            ],
            "metrics": [_metric(m) for m in queries.final_metrics(client, [run_id])],
            "summary": queries.summary(client, run_id),
            "artifacts": queries.artifacts(client, run_id),
            "datasets": [
                {
                    "name": row["name"],
                    "version": row["version"],
                    "role": row["role"],
                    "root": row["root"],
                    "files": len(row["paths"]),
                    "stored": row["stored"],
                }
                for row in queries.run_datasets(client, run_id)
            ],
            "samples": queries.samples(client, run_id),
            "alerts": queries.alerts(client, run_id),
        }
        package_rows = queries.packages(client, run_id)
        report = queries.finish_report(client, run_id)
    document["environment"]["packages"] = len(package_rows)
    if packages or output_format == "json":
        document["packages"] = package_rows
    if report and (report["not_recorded"] or report["nonfinite_values"]):
        document["not recorded"] = {
            **report["not_recorded"],
            "NaN/Inf values (stored)": report["nonfinite_values"],
        }
    emit_document(document, output_format)


def _metric(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "metric": row["metric"],
        "last_step": row["last_step"],
        "last": row["last_value"],
        "max": row["max_value"],
        "max_at": row["step_of_max"],
        "min": row["min_value"],
        "min_at": row["step_of_min"],
        "nan_or_inf": row["has_nonfinite"],
    }
