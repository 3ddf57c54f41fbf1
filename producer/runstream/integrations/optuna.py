"""Optuna: each trial of a study a run of the study's sweep (``runstream.sweep``).

    tracker = RunstreamCallback("digits", metric_name="eval.loss")
    study.optimize(tracker.track(objective), n_trials=20, callbacks=[tracker])
    tracker.finish()

``track`` makes each trial the active run while the objective runs (so ``runstream.log``
inside it lands in the trial's run); the trial's sampled params become its config, its
``trial.report`` values its metric ``metric_name`` by step, its value the summary entry
``metric_name``, and how it ended its status: ``finished``, ``pruned`` (``TrialPruned``)
or ``failed``. The callback keeps the study's best trial in the sweep's summary. Used
alone (``callbacks=[tracker]``) the callback records each trial after it ended (Optuna
calls callbacks for failed trials only when ``catch`` holds their exception). Trials run
one at a time: a process has one active run (``n_jobs=1``).
"""

from __future__ import annotations

import atexit
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import RunstreamError, TrackingWarning
from ..report import Status
from ..sweeps import Goal, Sweep, sweep

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from ..run import Run

Objective = Callable[["optuna.Trial"], Any]


class RunstreamCallback:
    """Records an Optuna study as a runstream sweep; see the module's docstring."""

    def __init__(
        self,
        project: str,
        *,
        metric_name: str = "value",
        split: str = "",
        sweep_name: str | None = None,
        **init_kwargs: Any,
    ) -> None:
        """``metric_name``: what the objective's value is (and ``trial.report`` logs);
        ``sweep_name``: the group (default: the study's name); ``init_kwargs`` go to each
        trial's ``runstream.init`` (``dir``, ``tags``, ``capture_code``, ...)."""
        import optuna  # noqa: F401  (fails here, with the extra to install, when missing)

        self.project = project
        self.metric_name = metric_name
        self.split = split
        self._sweep_name = sweep_name
        self._init_kwargs = init_kwargs
        self.sweep: Sweep | None = None
        self._runs: dict[int, Run] = {}
        self._space: set[str] = set()

    # -- the objective's side ------------------------------------------------------

    def track(self, objective: Objective) -> Objective:
        """``objective``, each call the active run of its trial."""

        def tracked(trial: optuna.Trial) -> Any:
            import optuna

            try:
                run = self._sweep_of(trial.study).trial(
                    f"{self._group(trial.study)}-{trial.number}",
                    config={"optuna": {"trial": trial.number}},
                    **self._init_kwargs,
                )
            except RunstreamError as error:
                warnings.warn(
                    f"runstream: trial {trial.number} is not tracked: {error}",
                    TrackingWarning,
                    stacklevel=2,
                )
                return objective(trial)
            self._runs[trial.number] = run
            try:
                value = objective(trial)
            except optuna.TrialPruned:
                self._close(run, trial, "pruned", None)
                raise
            except BaseException as error:
                self._close(run, trial, _status_of(error), None)
                raise
            finite = _number(value)
            self._close(run, trial, "finished" if finite is not None else "failed", finite)
            return value

        return tracked

    def _close(self, run: Run, trial: optuna.Trial, status: Status, value: float | None) -> None:
        run.add_config(trial.params)
        self._log_reports(run, _intermediate_values(trial))
        self._note_space(trial.distributions)
        if value is not None:
            run.summary[self.metric_name] = value
        run.finish(status)

    # -- the study's side ----------------------------------------------------------

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna's callback: the trial ended; record it (if ``track`` did not) and keep
        the best."""
        sweep = self._sweep_of(study)
        status = _STATUS_OF_STATE.get(trial.state.name, "failed")
        value = _number(trial.value) if len(study.directions) == 1 else None
        run = self._runs.pop(trial.number, None)
        if run is None:
            run = self._record_after(sweep, study, trial, status, value)
            if run is None:
                return
        sweep.record(run, value, status, params=trial.params)

    def _record_after(
        self,
        sweep: Sweep,
        study: optuna.Study,
        trial: FrozenTrial,
        status: Status,
        value: float | None,
    ) -> Run | None:
        try:
            run = sweep.trial(
                f"{self._group(study)}-{trial.number}",
                config={**trial.params, "optuna": {"trial": trial.number}},
                **self._init_kwargs,
            )
        except RunstreamError as error:
            warnings.warn(
                f"runstream: trial {trial.number} is not recorded: {error}",
                TrackingWarning,
                stacklevel=2,
            )
            return None
        self._log_reports(run, trial.intermediate_values)
        self._note_space(trial.distributions)
        if value is not None:
            run.summary[self.metric_name] = value
        run.finish(status)
        return run

    def finish(self) -> None:
        """Close the sweep's run (also done at interpreter exit)."""
        if self.sweep is not None:
            self.sweep.finish()

    # -- helpers -------------------------------------------------------------------

    def _group(self, study: optuna.Study) -> str:
        return self._sweep_name or study.study_name

    def _sweep_of(self, study: optuna.Study) -> Sweep:
        if self.sweep is None:
            goal: Goal = "maximize" if study.directions[0].name == "MAXIMIZE" else "minimize"
            self.sweep = sweep(
                self.project,
                self._group(study),
                objective=self.metric_name,
                goal=goal,
                method=f"optuna.{type(study.sampler).__name__}",
                dir=self._init_kwargs.get("dir"),
            )
            atexit.register(self.finish)
        return self.sweep

    def _log_reports(self, run: Run, values: Mapping[int, float]) -> None:
        for step, reported in sorted(values.items()):
            run.log({self.metric_name: reported}, step=step, split=self.split)

    def _note_space(self, distributions: Mapping[str, Any]) -> None:
        assert self.sweep is not None
        space = {
            name: _dimension(distribution)
            for name, distribution in distributions.items()
            if name not in self._space
        }
        if space:
            self._space.update(space)
            self.sweep.add_space(space)


_STATUS_OF_STATE: dict[str, Status] = {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed"}


def _status_of(error: BaseException) -> Status:
    return "killed" if isinstance(error, KeyboardInterrupt) else "failed"


def _number(value: object) -> float | None:
    """The objective's value when it is one finite number (Optuna fails a trial otherwise)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _intermediate_values(trial: optuna.Trial) -> Mapping[int, float]:
    """What the running trial passed to ``trial.report``, through the public study API."""
    from optuna.trial import TrialState

    for frozen in trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.number == trial.number:
            return frozen.intermediate_values
    return {}


def _dimension(distribution: Any) -> dict[str, object]:
    """A distribution as config: its kind and bounds (``low``, ``high``, ``log``, ``step``)
    or its ``choices`` (as text: they may mix types)."""
    described: dict[str, object] = {"kind": type(distribution).__name__}
    for key, value in vars(distribution).items():
        if key == "choices":
            described[key] = ", ".join(repr(choice) for choice in value)
        elif value is not None:
            described[key] = value
    return described
