"""The module-level shortcuts (``runstream.log``, ...) take exactly what ``Run``'s methods take."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import runstream
from runstream import Run

SHORTCUTS = ["log", "log_samples", "log_artifact", "finish", "watch"]


@pytest.mark.parametrize("name", SHORTCUTS)
def test_shortcut_has_the_run_methods_signature(name: str) -> None:
    method = inspect.signature(getattr(Run, name), eval_str=True)
    without_self = method.replace(parameters=list(method.parameters.values())[1:])
    assert inspect.signature(getattr(runstream, name), eval_str=True) == without_self


def test_shortcuts_pass_every_argument_on(
    start_run: Callable[..., Run], tmp_path: Path, read_envelopes: Callable[..., list[Any]]
) -> None:
    artifact = tmp_path / "model.pt"
    artifact.write_bytes(b"weights")
    run = start_run()
    runstream.log({"loss": 1.0}, step=3, split="train")
    digest = runstream.log_artifact(
        artifact, name="model", kind="checkpoint", metadata={"epoch": "1"}
    )
    assert len(digest) == 64
    report = runstream.finish("failed", timeout=5.0, upload_timeout=1.0)
    assert report.status == "failed" and report is run.report
    assert runstream.active_run() is None
    [logged] = [e.artifact for e in read_envelopes(run.settings) if e.HasField("artifact")]
    assert (logged.name, logged.kind, dict(logged.metadata)) == (
        "model",
        "checkpoint",
        {"epoch": "1"},
    )
