"""``runstream diff``: every group of differences between two real runs, and the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import runstream
from click.testing import CliRunner
from runstream.settings import Settings
from runstream_processors.cli.main import cli


def run(name: str, lr: float, seed: int, data: Path) -> None:
    with runstream.init(
        project="diff", name=name, config={"lr": lr, "depth": 2}, seed=seed, system_interval=None
    ) as tracked:
        tracked.log_dataset(data, name="corpus", role="train")
        tracked.log({"loss": lr})


def test_params_data_and_seed_differences_are_grouped_and_summarized(
    runstream_dir: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "corpus"
    data.mkdir()
    (data / "a.txt").write_text("one\n")
    (data / "b.txt").write_text("two\n")
    run("first", 0.1, 1, data)
    (data / "b.txt").write_text("two, changed\n")
    (data / "c.txt").write_text("three\n")
    run("second", 0.2, 2, data)

    result = CliRunner().invoke(cli, ["diff", "first", "second", "--format", "json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["params"] == [{"key": "lr", "a": "0.1", "b": "0.2"}]
    [corpus] = found["data"]
    assert (corpus["dataset"], corpus["role"]) == ("corpus", "train")
    assert (corpus["added"], corpus["removed"], corpus["modified"]) == (["c.txt"], [], ["b.txt"])
    seeds = {row["key"]: (row["a"], row["b"]) for row in found["determinism"]}
    assert seeds["seed"] == ("1", "2")
    assert "code" not in found and "environment" not in found  # same process, same code
    assert found["summary"].startswith("differ: 1 param; data (corpus: 2 files); determinism (")

    same = CliRunner().invoke(cli, ["diff", "first", "first"])
    assert same.exit_code == 0 and "no differences" in same.output
    table = CliRunner().invoke(cli, ["diff", "first", "second"])
    assert table.exit_code == 0 and "c.txt" in table.output and "lr" in table.output
