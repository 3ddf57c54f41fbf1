"""CLI answers equal the views' answers on the same data: ``runs --where/--sort/--group`` and
``leaderboard`` read ``run_table`` and ``leaderboard``, embedded and through a server."""

from __future__ import annotations

import json
from typing import Any

import pytest
import runstream
from click.testing import CliRunner
from runstream.settings import Settings
from runstream_processors.cli.main import cli

QUIET: dict[str, Any] = {"capture_code": False, "capture_env": False, "system_interval": None}
SWEEP = [("a", 0.001, "sgd", "g1"), ("b", 0.03, "adam", "g1"), ("c", 0.2, "adam", "g2")]


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def sweep(store: Settings) -> Settings:
    for name, lr, optimizer, group in SWEEP:
        with runstream.init(
            project="p", name=name, config={"lr": lr, "opt": optimizer}, group=group, **QUIET
        ) as run:
            run.log({"loss": 1.0 / (1 + 10 * lr), "accuracy": 0.5 + lr}, step=0, split="eval")
    return store


def test_runs_where_matches_the_same_condition_in_sql(sweep: Settings) -> None:
    names = [r["name"] for r in invoke("runs", "--where", "params.lr > 0.01", "--sort", "name:asc")]
    with_text = invoke("runs", "--where", "params.opt = 'adam' AND best.eval.accuracy > 0.6")
    sql = invoke(
        "sql", "SELECT name FROM runstream.run_table WHERE params_number['lr'] > 0.01 ORDER BY name"
    )
    assert names == [row["name"] for row in sql] == ["b", "c"]
    assert [r["name"] for r in with_text] == ["c"]


def test_runs_group_filter_and_group_column(sweep: Settings) -> None:
    rows = invoke("runs", "--group", "g1", "--columns", "group,params.lr", "--sort", "params.lr")
    assert [(r["name"], r["group"]) for r in rows] == [("b", "g1"), ("a", "g1")]


def test_leaderboard_equals_the_view_and_ranks_the_right_way(sweep: Settings) -> None:
    by_loss = [r["name"] for r in invoke("leaderboard", "eval.loss")]
    by_accuracy = [r["name"] for r in invoke("leaderboard", "eval.accuracy")]
    per_group = invoke("leaderboard", "eval.accuracy", "--per", "group")
    view = invoke(
        "sql",
        "SELECT name FROM runstream.leaderboard WHERE metric = 'eval.loss' ORDER BY best_value",
    )
    assert by_loss == [row["name"] for row in view] == ["c", "b", "a"]
    assert by_accuracy == ["c", "b", "a"]
    assert [(r["group"], r["name"]) for r in per_group] == [("g2", "c"), ("g1", "b")]


def test_a_bad_where_is_an_error_naming_the_problem_and_cannot_write(sweep: Settings) -> None:
    result = CliRunner().invoke(cli, ["runs", "--where", "params.lr >"])
    assert result.exit_code != 0
    result = CliRunner().invoke(
        cli, ["runs", "--where", "1 = (SELECT count() FROM (SELECT 1)) OR 'x' = 'it''s'"]
    )
    assert result.exit_code == 0, result.output
