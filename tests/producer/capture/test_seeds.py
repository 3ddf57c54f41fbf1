"""``init(seed=...)`` makes python, numpy and torch reproducible, and records what was in force."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import runstream
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb


def draws(start_run: Callable[..., runstream.Run], seed: int) -> tuple[list[float], list[float]]:
    """Random numbers drawn right after ``init(seed=seed)``."""
    run = start_run(seed=seed)
    python = [random.random() for _ in range(3)]
    numpy = np.random.rand(3).tolist()
    run.finish()
    return python, numpy


def test_the_same_seed_gives_the_same_numbers(start_run: Callable[..., runstream.Run]) -> None:
    first = draws(start_run, 7)
    random.random(), np.random.rand()  # disturb the generators between the runs
    assert draws(start_run, 7) == first
    assert draws(start_run, 8) != first


def test_the_seed_and_determinism_settings_are_recorded(
    start_run: Callable[..., runstream.Run],
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    runstream_dir: Settings,
) -> None:
    start_run(seed=7, capture_env=True).finish()
    started = read_envelopes(runstream_dir)[0].run_started
    assert (started.has_seed, started.seed) == (True, 7)
    assert started.environment.determinism["seed"] == "7"
    assert "python.hash_seed" in started.environment.determinism


@pytest.mark.parametrize(("seed", "recorded"), [(0, (True, 0)), (None, (False, 0))])
def test_seed_zero_is_a_seed_and_none_is_not(
    start_run: Callable[..., runstream.Run],
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    runstream_dir: Settings,
    seed: int | None,
    recorded: tuple[bool, int],
) -> None:
    start_run(seed=seed).finish()
    started = read_envelopes(runstream_dir)[0].run_started
    assert (started.has_seed, started.seed) == recorded


TORCH_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch  # imported by the training script before init, as usual
    import runstream
    from runstream.settings import load_settings
    from runstream.spool import Checkpoint, SpoolReader
    from runstream.wire import events_pb2 as pb

    def run_once(deterministic):
        torch.use_deterministic_algorithms(deterministic)
        run = runstream.init(project="tests", seed=7, capture_code=False, system_interval=None)
        numbers = torch.rand(4).tolist()
        run.finish()
        return numbers

    first, second = run_once(False), run_once(True)
    directory = load_settings().spool_dir  # RUNSTREAM_DIR, set by the test
    records = SpoolReader(directory).read(Checkpoint(directory / "unsaved.json")).records
    started = [pb.Envelope.FromString(r.payload) for r in records]
    determinism = [dict(e.run_started.environment.determinism) for e in started
                   if e.WhichOneof("payload") == "run_started"]
    json.dump({"first": first, "second": second, "determinism": determinism,
               "torch_version": torch.__version__}, sys.stdout)
    """
)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_is_seeded_and_its_determinism_flags_recorded(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    """In a child process: importing torch here would make every later test pay for it."""
    done = subprocess.run(
        [sys.executable, "-c", TORCH_SCRIPT],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["first"] == result["second"], "torch.rand differs after the same seed"

    first, second = result["determinism"]
    for settings in (first, second):
        assert settings["seed"] == "7"
        assert settings["torch.version"] == result["torch_version"]
        assert settings["torch.initial_seed"] == "7"
        assert settings["torch.cudnn.deterministic"] in ("True", "False")
        assert settings["torch.cudnn.benchmark"] in ("True", "False")
    assert first["torch.deterministic_algorithms"] == "False"
    assert second["torch.deterministic_algorithms"] == "True"
