"""The ``runstream`` console script's shim: what it checks is what the ``cli`` extra installs."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
from runstream import _console_script
from runstream.errors import MissingExtraError

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
_NAME = re.compile(r"^[A-Za-z0-9._-]+")
_EXTRAS = re.compile(r"^runstream\[([^\]]+)\]$")


def _distributions(extra: str) -> set[str]:
    """Every distribution the extra installs directly, through the runstream[...] it includes."""
    found: set[str] = set()
    for requirement in PROJECT["optional-dependencies"][extra]:
        nested = _EXTRAS.match(requirement)
        if nested:
            for name in nested.group(1).split(","):
                found |= _distributions(name.strip())
        else:
            match = _NAME.match(requirement)
            assert match, requirement
            found.add(match.group(0).lower())
    return found


def test_the_script_points_at_the_shim() -> None:
    assert PROJECT["scripts"]["runstream"] == "runstream._console_script:main"


def test_the_shim_checks_exactly_the_cli_extra() -> None:
    assert set(_console_script.CLI_MODULES.values()) == _distributions("cli")


def test_the_base_install_is_the_sdk_alone() -> None:
    names = {re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0].lower() for r in PROJECT["dependencies"]}
    # detect-secrets: secrets are scrubbed on the training machine (runstream.redaction).
    assert names == {"protobuf", "psutil", "nvidia-ml-py", "detect-secrets"}


def test_with_the_extra_it_loads_the_cli() -> None:
    from runstream_processors.cli.main import main

    assert _console_script.load_cli() is main


def test_a_missing_part_names_the_cli_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "rich" else real(name, *a)
    )
    with pytest.raises(MissingExtraError, match=r"'rich' is not installed.*runstream\[cli\]"):
        _console_script.load_cli()
    with pytest.raises(SystemExit) as exited:
        _console_script.main()
    assert exited.value.code == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line == (
        "runstream: 'rich' is not installed: install it with `pip install 'runstream[cli]'`"
    )
