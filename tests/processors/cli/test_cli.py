"""The CLI against a real store, in-process (click's runner) and as a command.

Every test runs twice: on the embedded store, and through ``runstream store serve``
(RUNSTREAM_CLICKHOUSE_URL set), where answers travel as Native blocks re-framed for
clickhouse-connect's protocol revision. The local spool is taken in either way.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from runstream.settings import Settings
from runstream_processors.cli.main import cli
from support.runs import make_run


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def two_runs(store: Settings) -> tuple[str, str]:
    return make_run("alpha", lr=0.1, optimizer="adam"), make_run("beta", lr=0.3, optimizer="sgd")


def test_runs_lists_status_varying_params_and_final_metrics(two_runs: tuple[str, str]) -> None:
    runs = json.loads(invoke("runs", "--format", "json"))
    assert [run["name"] for run in runs] == ["beta", "alpha"]
    assert {run["status"] for run in runs} == {"finished"}
    assert runs[0]["lr"] == "0.3" and runs[1]["optimizer"] == "adam"
    assert runs[1]["eval.accuracy"] == pytest.approx(0.91)
    assert "layers" not in runs[0]  # same in both runs: not a key param
    assert {run["id"] for run in runs} == set(two_runs)


def test_runs_filters(two_runs: tuple[str, str]) -> None:
    assert json.loads(invoke("runs", "--status", "crashed", "--format", "json")) == []
    assert (
        len(json.loads(invoke("runs", "--tag", "unit", "--project", "tests", "--format", "json")))
        == 2
    )
    assert json.loads(invoke("runs", "--project", "other", "--format", "json")) == []


def test_runs_as_csv(two_runs: tuple[str, str]) -> None:
    rows = list(csv.DictReader(io.StringIO(invoke("runs", "--format", "csv"))))
    assert [row["name"] for row in rows] == ["beta", "alpha"]


def test_runs_table_shows_tags_by_default(two_runs: tuple[str, str]) -> None:
    table = invoke("runs")
    assert "tags" in table and "unit" in table


def test_runs_columns_choose_metrics_params_and_builtins(two_runs: tuple[str, str]) -> None:
    runs = json.loads(
        invoke("runs", "--columns", "train.loss, params.layers,tags,commit", "--format", "json")
    )
    assert list(runs[0]) == ["name", "id", "train.loss", "params.layers", "tags", "commit"]
    assert runs[0]["params.layers"] == runs[1]["params.layers"]  # same in both: still shown
    assert runs[1]["tags"] == ["unit"] and isinstance(runs[1]["train.loss"], float)
    rows = list(
        csv.DictReader(io.StringIO(invoke("runs", "-c", "eval.accuracy", "--format", "csv")))
    )
    assert list(rows[0]) == ["name", "id", "eval.accuracy"]


def test_runs_sort_by_a_metric_or_param_then_limit(two_runs: tuple[str, str]) -> None:
    def names(*args: str) -> list[str]:
        return [run["name"] for run in json.loads(invoke("runs", *args, "--format", "json"))]

    assert names("--sort", "eval.accuracy") == ["beta", "alpha"]
    assert names("--sort", "eval.accuracy:asc") == ["alpha", "beta"]
    assert names("--sort", "eval.loss:asc", "--limit", "1") == ["beta"]
    assert names("--sort", "params.lr:asc") == ["alpha", "beta"]
    assert names("--sort", "name:asc", "-n", "1") == ["alpha"]  # the oldest, found by sorting


def test_runs_unknown_column_or_sort_is_a_usage_error(two_runs: tuple[str, str]) -> None:
    for args in (["--columns", "eval.acuracy"], ["--sort", "params.nope"], ["--sort", "x:up"]):
        result = CliRunner().invoke(cli, ["runs", *args])
        assert result.exit_code == 2, result.output
    result = CliRunner().invoke(cli, ["runs", "--columns", "eval.acuracy"])
    assert "eval.accuracy" in result.output  # the metrics there are, listed


def test_show_by_name_prefix_and_id(two_runs: tuple[str, str]) -> None:
    alpha, _ = two_runs
    for reference in ("alpha", alpha[:6], alpha):
        shown = json.loads(invoke("show", reference, "--format", "json"))
        assert shown["run"]["run_id"] == alpha
    assert {p["key"]: p["value"] for p in shown["params"]}["optimizer"] == "adam"
    assert shown["environment"]["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert any(package["name"] == "pytest" for package in shown["packages"])
    assert {m["metric"] for m in shown["metrics"]} == {
        "train.loss",
        "train.accuracy",
        "eval.loss",
        "eval.accuracy",
    }
    assert shown["samples"][0]["correct"] in (True, False)
    assert shown["summary"] == [{"key": "final_accuracy", "type": "number", "value": "0.91"}]


@pytest.mark.parametrize(("columns", "width"), [(None, 100), ("60", 60)])
def test_show_piped_fits_a_reader_width_and_folds_long_values(
    store: Settings, columns: str | None, width: int
) -> None:
    make_run("wide", lr=0.2, long_value="x" * 300)
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    done = subprocess.run(
        [sys.executable, "-m", "runstream_processors.cli.main", "show", "wide"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= width, max(lines, key=len)
    assert done.stdout.count("x") >= 300  # folded, not cut
    assert "long_value" in done.stdout  # the first column keeps its words while it can
    if width >= 100:
        assert "eval.accuracy" in done.stdout


def test_show_and_runs_for_a_run_without_tags(store: Settings) -> None:
    plain = make_run("plain", lr=0.2, tags=[])
    shown = json.loads(invoke("show", "plain", "--format", "json"))
    assert shown["run"]["run_id"] == plain and shown["run"]["tags"] == []
    assert json.loads(invoke("runs", "--format", "json"))[0]["name"] == "plain"


def test_show_table_output_has_every_section(two_runs: tuple[str, str]) -> None:
    text = invoke("show", "alpha")
    for section in ("run", "git", "environment", "params", "metrics", "summary", "samples"):
        assert f"\n{section}" in "\n" + text


def test_compare_shows_differences_and_plots(two_runs: tuple[str, str], tmp_path: Path) -> None:
    plot = tmp_path / "curves.png"
    compared = json.loads(
        invoke(
            "compare", "alpha", "beta", "--plot", str(plot), "--metric", "loss", "--format", "json"
        )
    )
    differing = {
        row["param"]: (row["alpha"], row["beta"]) for row in compared["params that differ"]
    }
    assert differing == {"lr": ("0.1", "0.3"), "optimizer": ("adam", "sgd")}
    final_loss = next(
        row
        for row in compared["metrics"]
        if row["metric"] == "eval.loss" and row["stat"] == "final"
    )
    assert final_loss["alpha"] == pytest.approx(0.5 / 1.1) and final_loss["beta"] == pytest.approx(
        0.5 / 1.3
    )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_sql(two_runs: tuple[str, str]) -> None:
    rows = json.loads(
        invoke(
            "sql",
            "SELECT name, count() AS points FROM runstream.metrics "
            "JOIN runstream.runs USING (run_id) GROUP BY name ORDER BY name",
            "--format",
            "json",
        )
    )
    assert rows == [{"name": "alpha", "points": 102}, {"name": "beta", "points": 102}]


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("runstream")
    return subprocess.run(
        [str(executable), *args], capture_output=True, text=True, env=os.environ.copy(), timeout=120
    )


def test_errors_are_one_clear_line(two_runs: tuple[str, str]) -> None:
    missing = _command("show", "no-such-run")
    assert missing.returncode == 1
    assert "no run matches 'no-such-run'" in missing.stderr and "Traceback" not in missing.stderr
    bad_sql = _command("sql", "SELECT nope FROM runstream.runs")
    assert (
        bad_sql.returncode == 1 and "nope" in bad_sql.stderr and "Traceback" not in bad_sql.stderr
    )
