"""``runstream reproduce RUN``: rebuild a run's code, environment and data, and re-run it.

Without ``--run`` it stops after materializing (``DIR/reproduce.sh`` re-runs by hand). With
``--run`` the recorded command runs in the rebuilt directory as a new run linked to the
original (``reproduces``), then the difference of the two runs and, per metric, the largest
difference of their points are printed.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from runstream.settings import environment_snapshot

from .. import queries
from ..errors import ReproduceError
from ..reproduce.diff import difference, load
from ..reproduce.materialize import Reproduction, gather, materialize
from ..reproduce.metrics import compare
from .context import settings_from
from .diff import render
from .output import emit_document, emit_rows, errors, format_option
from .session import store_for_query


@click.command("reproduce")
@click.argument("run")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="new directory to rebuild the run in [default: ./reproduce-NAME-ID]",
)
@click.option("--run", "rerun", is_flag=True, help="re-run the recorded command, then compare")
@click.option(
    "--venv",
    is_flag=True,
    help="build a virtual environment of the recorded packages with uv (DIR/.venv) instead "
    "of using the current interpreter",
)
@format_option
@click.pass_context
def reproduce_command(
    ctx: click.Context, run: str, out: Path | None, rerun: bool, venv: bool, output_format: str
) -> None:
    """Rebuild RUN's code, environment and data in a directory; --run re-runs and compares."""
    settings = settings_from(ctx)
    with store_for_query(settings, "runstream reproduce") as client:
        found = queries.resolve_run(client, run)
        recorded = gather(client, found["run_id"])
    target = out or Path.cwd() / f"reproduce-{found['name']}-{found['run_id'][:8]}"
    reproduction = materialize(settings, recorded, target, venv)
    document: dict[str, Any] = {"reproduction": _described(reproduction)}
    if output_format != "json":
        emit_document(document, output_format)
    if not rerun:
        if output_format == "json":
            emit_document(document, output_format)
        else:
            click.echo(f"re-run it with: sh {shlex.quote(str(reproduction.out / 'reproduce.sh'))}")
        return
    _execute(reproduction)
    with store_for_query(settings, "runstream reproduce") as client:
        runs = queries.reproductions(client, found["run_id"])
        if not runs:
            raise ReproduceError("the command finished but recorded no run that reproduces it")
        new_id = runs[0]["run_id"]
        found_diff = difference(
            load(client, settings, found["run_id"]), load(client, settings, new_id)
        )
        metrics = compare(
            queries.run_metric_points(client, found["run_id"]),
            queries.run_metric_points(client, new_id),
        )
    document.update({"run": new_id, "diff": found_diff, "metrics": metrics})
    if output_format == "json":
        emit_document(document, output_format)
        return
    render(found_diff, output_format)
    emit_rows(metrics, output_format, title="metrics: reproduction vs original")
    trained = [row for row in metrics if not row["measured"]]
    identical = sum(row["identical"] for row in trained)
    measured = len(metrics) - len(trained)
    click.echo(
        f"{identical} of {len(trained)} metrics bit-identical"
        + (
            f" ({measured} measurements of the machine, such as steps/s, not counted)"
            if measured
            else ""
        )
    )


def _described(reproduction: Reproduction) -> dict[str, Any]:
    return {
        "directory": str(reproduction.out),
        "working directory": str(reproduction.workdir),
        "environment": reproduction.environment,
        "command": shlex.join(reproduction.command),
        "variables": " ".join(f"{k}={v}" for k, v in reproduction.variables.items()),
        "not exact": "; ".join(reproduction.notes) or "nothing",
    }


def _execute(reproduction: Reproduction) -> None:
    """Run the command; its output goes to stderr so stdout stays the answer."""
    env = {**environment_snapshot(), **reproduction.variables}
    try:
        stdout: Any = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        stdout = None
    errors.print(f"running {shlex.join(reproduction.command)}", highlight=False, markup=False)
    done = subprocess.run(
        reproduction.command, cwd=reproduction.workdir, env=env, stdout=stdout, check=False
    )
    if done.returncode != 0:
        raise ReproduceError(f"the re-run exited with status {done.returncode}")
