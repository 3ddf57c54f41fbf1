"""Optuna studies recorded as sweeps: real optuna, a tiny objective built here, the real store."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
import runstream
from runstream.integrations.optuna import RunstreamCallback
from runstream.settings import Settings
from support.runs import store

QUIET: dict[str, Any] = {"capture_code": False, "capture_env": False, "system_interval": None}
IN_GROUP = "run_id IN (SELECT run_id FROM runstream.runs_started WHERE run_group = {g:String})"


def _objective(trial: optuna.Trial) -> float:
    """A tiny least-squares fit by gradient descent; trial 1 is pruned, trial 2 fails."""
    lr = trial.suggest_float("lr", 0.01, 0.5, log=True)
    width = trial.suggest_int("width", 1, 3)
    weight, target = 0.0, float(width)
    loss = target**2
    for step in range(3):
        weight -= lr * 2 * (weight - target)
        loss = (weight - target) ** 2
        trial.report(loss, step)
        runstream.log({"loss": loss}, step=step, split="train")
        if trial.number == 1 and step == 1:
            raise optuna.TrialPruned()
    if trial.number == 2:
        raise ValueError("diverged")
    return loss


def _runs(client: Any, group: str) -> dict[str, tuple[str, str]]:
    rows = client.query(
        "SELECT s.name, s.job_type, r.status FROM runstream.runs_started AS s "
        "JOIN runstream.runs AS r ON r.run_id = s.run_id WHERE s.run_group = {g:String}",
        parameters={"g": group},
    ).result_rows
    return {name: (job_type, status) for name, job_type, status in rows}


def test_each_trial_is_a_run_of_the_study_sweep_with_its_params_status_and_the_best(
    runstream_dir: Settings,
) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tracker = RunstreamCallback("opt", metric_name="eval.loss", **QUIET)
    study = optuna.create_study(study_name="fit", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(tracker.track(_objective), n_trials=4, callbacks=[tracker], catch=(ValueError,))
    tracker.finish()

    with store(runstream_dir) as client:
        assert _runs(client, "fit") == {
            "fit": ("sweep", "finished"),
            "fit-0": ("trial", "finished"),
            "fit-1": ("trial", "pruned"),
            "fit-2": ("trial", "failed"),
            "fit-3": ("trial", "finished"),
        }
        params = client.query(
            "SELECT s.name, p.key, p.value_number FROM runstream.params AS p "
            "JOIN runstream.runs_started AS s ON s.run_id = p.run_id "
            "WHERE s.job_type = 'trial' AND p.key IN ('lr', 'width') ORDER BY s.name, p.key"
        ).result_rows
        expected = [
            (f"fit-{trial.number}", key, pytest.approx(float(trial.params[key])))
            for trial in study.trials
            for key in ("lr", "width")
        ]
        assert params == expected
        reported = client.query(
            "SELECT count(), countIf(split = 'train') FROM runstream.metrics "
            f"WHERE key = 'eval.loss' AND {IN_GROUP}",
            parameters={"g": "fit"},
        ).result_rows
        assert reported == [(3 + 2 + 3 + 3, 0)]  # trial.report values; the pruned one has 2
        logged = client.query(
            "SELECT count() FROM runstream.metrics WHERE key = 'loss' AND split = 'train'"
        ).result_rows
        assert logged == [(11,)]  # runstream.log inside the objective went to each trial
        summary = dict(
            client.query(
                "SELECT key, if(value_type = 'text', value_text, toString(value_number)) "
                "FROM runstream.run_summary WHERE run_id = "
                "(SELECT run_id FROM runstream.runs_started WHERE job_type = 'sweep')"
            ).result_rows
        )
        best = study.best_trial
        assert summary["best.run_name"] == f"fit-{best.number}"
        assert float(summary["best.value"]) == pytest.approx(study.best_value)
        assert float(summary["best.lr"]) == pytest.approx(best.params["lr"])
        assert summary["trials.finished"] == "2"
        assert summary["trials.pruned"] == "1"
        assert summary["trials.failed"] == "1"
        space = dict(
            client.query(
                "SELECT key, if(value_type = 'text', value_text, toString(value_number)) "
                "FROM runstream.params WHERE key LIKE 'sweep.%' AND run_id = "
                "(SELECT run_id FROM runstream.runs_started WHERE job_type = 'sweep')"
            ).result_rows
        )
        assert space["sweep.objective"] == "eval.loss"
        assert space["sweep.goal"] == "minimize"
        assert space["sweep.method"] == "optuna.RandomSampler"
        assert space["sweep.space.lr.kind"] == "FloatDistribution"
        assert float(space["sweep.space.width.high"]) == 3


def test_the_callback_alone_records_each_trial_after_it_ended(runstream_dir: Settings) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    tracker = RunstreamCallback("opt", **QUIET)
    study = optuna.create_study(
        study_name="alone", direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1)
    )
    study.optimize(
        lambda t: -((t.suggest_float("x", -2, 2) - 1) ** 2), n_trials=3, callbacks=[tracker]
    )
    tracker.finish()
    with store(runstream_dir) as client:
        runs = _runs(client, "alone")
        assert runs == {
            "alone": ("sweep", "finished"),
            **{f"alone-{n}": ("trial", "finished") for n in range(3)},
        }
        best = client.query(
            "SELECT value_number FROM runstream.run_summary WHERE key = 'best.value' AND run_id ="
            " (SELECT run_id FROM runstream.runs_started WHERE job_type = 'sweep')"
        ).result_rows
        assert best == [(pytest.approx(study.best_value),)]
        values = client.query(
            "SELECT value_number FROM runstream.run_summary WHERE key = 'value' "
            "ORDER BY value_number DESC LIMIT 1"
        ).result_rows
        assert values == [(pytest.approx(study.best_value),)]
