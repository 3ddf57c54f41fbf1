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
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
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


class BackgroundRefresh:
    """:func:`refresh_importance` on a thread and a client of its own.

    The worker's store writer hands it the projects whose runs finished and goes on: a
    take is never held up by scikit-learn (seconds to import, ~0.1 s a metric), so
    freshness stays what it was and a stop signal is answered in time. Projects that finish
    runs while a refresh is under way are refreshed once more afterwards.
    """

    def __init__(self, open_client: Callable[[], AbstractContextManager[Any]]) -> None:
        self._open_client = open_client
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, projects: Iterable[str]) -> None:
        with self._lock:
            self._pending.update(projects)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="runstream-importance", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def close(self, timeout: float = 1.0) -> None:
        """Stop after the refresh under way (a daemon thread: exit does not wait for it)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            with self._open_client() as client:
                while not self._stopping.is_set():
                    self._wake.wait()
                    self._wake.clear()
                    with self._lock:
                        projects, self._pending = self._pending, set()
                    if projects and not self._stopping.is_set():
                        refresh_importance(client, projects)
        except Exception:  # never the worker's problem: the next CLI call refreshes too
            logger.warning("the importance refresh thread stopped", exc_info=True)
