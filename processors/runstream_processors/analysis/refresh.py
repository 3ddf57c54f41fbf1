"""Keep ``runstream.param_importance`` current: recompute after runs finish.

Whoever takes events into the store (the spool ingest in embedded mode and under
``runstream store serve``, the worker's store writer in team mode) learns from the
ingest core which projects got a RunFinished (``Outcome.finished_projects``) and calls
:func:`refresh_importance` once per take with the same client. For each such project
with at least 3 finished runs, every metric its finished runs logged (the first
``MAX_METRICS`` by name) is computed for ``final`` and ``best`` over all its finished runs
(no group or tag filter) and stored. scikit-learn is imported only then, so a take with
no finished run, or a project with fewer runs, costs one query at most. A failure is
logged, never raised: ingestion must not stop for an analysis.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ..errors import QueryError

logger = logging.getLogger("runstream.analysis")

MAX_METRICS = 50
"""Metrics per project and refresh: bounds a refresh's cost (~0.1 s a metric at 100 runs)."""


def refresh_importance(client: Any, projects: Iterable[str]) -> int:
    """Recompute importance for ``projects``; returns how many computations were stored."""
    stored = 0
    for project in sorted(set(projects)):
        try:
            stored += _refresh_project(client, project)
        except ImportError as exc:
            logger.info(
                "parameter importance not refreshed (%s): pip install 'runstream[analysis]'", exc
            )
            break
        except Exception:  # an analysis must never stop ingestion
            logger.warning("refreshing parameter importance of %r failed", project, exc_info=True)
    return stored


def _refresh_project(client: Any, project: str) -> int:
    from .. import queries
    from .importance import MIN_RUNS
    from .importance_store import WHICH, SweepFilter, compute_and_store, load_sweep

    finished = queries.rows(
        client,
        "SELECT count() AS runs FROM runstream.runs "
        "WHERE project = {project:String} AND status = 'finished'",
        {"project": project},
    )
    if finished[0]["runs"] < MIN_RUNS:  # the common case after one run: one query
        return 0
    sweep = load_sweep(client, SweepFilter(project))
    metrics = sorted(name for name, runs in sweep.metrics.items() if len(runs) >= MIN_RUNS)
    if len(metrics) > MAX_METRICS:
        logger.info(
            "project %r: parameter importance refreshed for %d of its %d metrics",
            project,
            MAX_METRICS,
            len(metrics),
        )
    stored = 0
    for metric in metrics[:MAX_METRICS]:
        for which in WHICH:
            try:
                compute_and_store(client, sweep, metric, which)
            except QueryError:  # too few finite values: nothing to store
                continue
            stored += 1
    return stored
