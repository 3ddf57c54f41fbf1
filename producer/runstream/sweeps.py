"""``runstream.sweep`` (module ``runstream.sweeps``): a search, its trials one group of runs.

A sweep is itself a run, the group's own record (``job_type='sweep'``, named like the
group): its config holds the search space, the objective and the goal, its summary the
best trial so far (``best.value``, ``best.run_name``, ``best.<param>``; not its id: 32 hex
characters read as a secret and are redacted)
and how many trials ended each way (``trials.finished``, ``trials.pruned``, ...). Each
trial is an ordinary run of the group (``job_type='trial'``), so ``runstream runs
--group NAME``, the dashboards' group filter and plain SQL read a sweep like any runs; no
event kind or table of its own. The sweep's run is not the process's active run: trials
are started and finished, one at a time, while it stays open (``running``) until
:meth:`Sweep.finish`.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal

from .config import ParamValue
from .errors import InvalidInputError
from .report import RunReport, Status
from .run import Run

Goal = Literal["minimize", "maximize"]

SWEEP_JOB_TYPE = "sweep"
TRIAL_JOB_TYPE = "trial"


class Sweep:
    """The record of one search; create it with :func:`runstream.sweep`."""

    def __init__(self, run: Run, objective: str, goal: Goal, dir: str | None) -> None:
        self.run = run
        self.project = run.project
        self.name = run.name
        """Also the group of its trials."""
        self.objective = objective
        self.goal: Goal = goal
        self.best_value: float | None = None
        self.best_run_id = ""
        self._dir = dir
        self._ended: Counter[str] = Counter()

    def trial(self, name: str | None = None, *, config: object = None, **init_kwargs: Any) -> Run:
        """Start one trial: ``runstream.init`` in this sweep's group (the active run)."""
        from .start import init

        init_kwargs.setdefault("dir", self._dir)
        return init(
            self.project,
            name,
            config=config,
            group=self.name,
            job_type=TRIAL_JOB_TYPE,
            **init_kwargs,
        )

    def record(
        self,
        trial: Run,
        value: float | None,
        status: Status = "finished",
        params: Mapping[str, ParamValue] | None = None,
    ) -> bool:
        """Count how ``trial`` ended and keep it as the best when its ``value`` beats the
        best so far (only finished trials with a finite value can); returns whether it did.
        ``params`` default to the trial's config."""
        self._ended[status] += 1
        self.run.summary[f"trials.{status}"] = self._ended[status]
        if status != "finished" or value is None or not math.isfinite(value):
            return False
        if self.best_value is not None and not self._better(float(value), self.best_value):
            return False
        self.best_value, self.best_run_id = float(value), trial.id
        summary = self.run.summary
        summary["best.value"] = float(value)
        summary["best.run_name"] = trial.name
        for key, param in (trial.config if params is None else params).items():
            summary[f"best.{key}"] = param
        return True

    def _better(self, value: float, than: float) -> bool:
        return value < than if self.goal == "minimize" else value > than

    def add_space(self, space: Mapping[str, object]) -> None:
        """Record dimensions of the space found as the search goes (Optuna defines its space
        by running): config keys ``sweep.space.<name>``."""
        self.run.add_config({"sweep": {"space": dict(space)}})

    def finish(self, status: Status = "finished") -> RunReport:
        return self.run.finish(status)

    def __enter__(self) -> Sweep:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.run.__exit__(kind, error, traceback)  # finished, failed or killed, as a run's

    def __repr__(self) -> str:
        return f"<Sweep {self.project}/{self.name} objective={self.objective} {self.goal}>"


def sweep(
    project: str,
    name: str,
    *,
    objective: str,
    goal: Goal = "minimize",
    space: Mapping[str, object] | None = None,
    method: str = "",
    dir: str | os.PathLike[str] | None = None,
    strict: bool | None = None,
) -> Sweep:
    """Open a sweep: the group ``name`` of trial runs searching ``space`` for the best
    ``objective`` (a metric or summary key of the trials), to ``goal``.

        with runstream.sweep("digits", "lr-search", objective="eval.loss",
                             space={"lr": [1e-4, 1e-1]}) as search:
            for lr in (1e-3, 1e-2):
                with search.trial(config={"lr": lr}) as trial:
                    loss = train(trial, lr)
                    trial.summary["eval.loss"] = loss
                search.record(trial, loss)
    """
    from .start import open_detached

    if goal not in ("minimize", "maximize"):
        raise InvalidInputError(f"goal must be 'minimize' or 'maximize', got {goal!r}")
    if not isinstance(objective, str) or not objective:
        raise InvalidInputError(f"objective must name a metric or summary key, got {objective!r}")
    config: dict[str, object] = {"objective": objective, "goal": goal, "method": method}
    if space:
        config["space"] = dict(space)
    run = open_detached(
        project,
        name,
        config={"sweep": config},
        group=name,
        job_type=SWEEP_JOB_TYPE,
        dir=dir,
        strict=strict,
    )
    return Sweep(run, objective, goal, None if dir is None else os.fspath(dir))
