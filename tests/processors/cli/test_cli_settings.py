"""The CLI's data directory: ``--dir``, else ``RUNSTREAM_DIR`` (read by runstream.settings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from runstream.settings import Settings
from runstream_processors.cli.context import settings_from
from runstream_processors.cli.main import cli
from runstream_processors.errors import NoStoreError


def _root(*args: str) -> Path:
    with cli.make_context("runstream", [*args, "runs"], resilient_parsing=True) as ctx:
        return settings_from(ctx).root


def test_dir_option_wins_over_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNSTREAM_DIR", str(tmp_path / "from-env"))
    assert _root("--dir", str(tmp_path / "from-flag")) == tmp_path / "from-flag"


def test_without_dir_the_variable_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNSTREAM_DIR", str(tmp_path / "from-env"))
    assert _root() == tmp_path / "from-env"


def test_without_either_it_is_dot_runstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNSTREAM_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert _root() == tmp_path / ".runstream"


def test_the_help_says_where_the_default_comes_from() -> None:
    [option] = [param for param in cli.params if param.name == "data_dir"]
    assert option.envvar is None, "RUNSTREAM_DIR is read by runstream.settings, not by click"
    assert "RUNSTREAM_DIR" in (getattr(option, "help", None) or "")


def test_a_query_where_no_store_exists_says_where_it_looked_and_creates_nothing(
    runstream_dir: Settings,
) -> None:
    from click.testing import CliRunner

    for command in (["runs"], ["show", "alpha"], ["sql", "SELECT 1"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code != 0, result.output
        assert isinstance(result.exception, NoStoreError)
        message = str(result.exception)
        assert str(runstream_dir.store_dir) in message
        assert "--dir" in message and "RUNSTREAM_DIR" in message
        assert "RUNSTREAM_CLICKHOUSE_URL" in message
    assert not runstream_dir.root.exists()


def test_the_no_store_message_is_one_line_and_status_1(runstream_dir: Settings) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "runstream_processors.cli.main", "runs"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no runstream store" in done.stderr and "Traceback" not in done.stderr
    assert not runstream_dir.root.exists()
