"""Bad input and faults never lose a run.

Every string a user passes is checked in the caller's thread (a lone surrogate would
otherwise fail the recorder's protobuf encode in the background and lose the run's
start or a whole cycle of points). Calls on a run count what they refuse and warn once
per subject and problem; a strict run raises. A RunStarted too big for an envelope is
cut with a marker and the cut is counted, never lost. Each case is checked through
the store: the run is there, with its good data.
"""

from __future__ import annotations

import errno
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import runstream
import torch
from runstream.settings import Settings
from support.counts import assert_exactly_once, spooled
from support.runs import scalar, store

StartRun = Callable[..., runstream.Run]
BAD = "acc\ud800"
"""A lone surrogate at position 3: a valid Python str that is not valid UTF-8."""
SURROGATE = "not valid UTF-8 (a lone surrogate at position 3)"


@pytest.fixture
def caught() -> Iterator[list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        yield records


def tracking(records: list[warnings.WarningMessage]) -> list[str]:
    return [str(r.message) for r in records if issubclass(r.category, runstream.TrackingWarning)]


def stored(settings: Settings, run_id: str) -> dict[str, Any]:
    """What the store holds of one run: its name, metric points, samples and report.

    Checks first that everything spooled landed exactly once (sent = landed per table, no
    duplicate, no dead letter): refused input is refused at the call, never downstream.
    """
    with store(settings) as client:
        counts = assert_exactly_once(client, spooled(settings.local_spool_dir))
        names = client.query(
            "SELECT name, notes FROM runstream.runs_started WHERE run_id = {r:String}",
            parameters={"r": run_id},
        ).result_rows
        points = client.query(
            "SELECT key, split, step, value FROM runstream.metrics WHERE run_id = {r:String} "
            "ORDER BY key, split, step",
            parameters={"r": run_id},
        ).result_rows
        samples = scalar(
            client, "SELECT count() FROM runstream.samples WHERE run_id = {r:String}", r=run_id
        )
        finished = client.query(
            "SELECT not_recorded FROM runstream.runs_finished WHERE run_id = {r:String}",
            parameters={"r": run_id},
        ).result_rows
    return {
        "names": names,
        "points": [tuple(row) for row in points],
        "samples": samples,
        "not_recorded": dict(finished[0][0]) if finished else None,
        "counts": counts,
    }


# -- surrogates: refused at the call, the run is kept ---------------------------------


def test_a_surrogate_metric_key_is_counted_and_the_run_keeps_its_good_points(
    start_run: StartRun, runstream_dir: Settings, caught: list[warnings.WarningMessage]
) -> None:
    run = start_run(name="surrogate-key")
    run.log({BAD: 0.5, "loss": 0.25}, step=0)
    run.log({BAD: 0.5, "loss": 0.125}, step=1)
    report = run.finish()
    reason = f"rejected: metric key {BAD!r}: {SURROGATE}"
    assert report.not_recorded == {reason: 2}
    assert len(tracking(caught)) == 1 and SURROGATE in tracking(caught)[0]
    got = stored(runstream_dir, run.id)
    assert got["names"][0][0] == "surrogate-key"
    assert got["points"] == [("loss", "", 0, 0.25), ("loss", "", 1, 0.125)]
    assert got["not_recorded"] == {reason: 2}


def test_a_surrogate_metric_key_raises_by_name_in_a_strict_run(start_run: StartRun) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidKeyError, match=r"metric key 'acc\\ud800': not valid"):
        run.log({BAD: 0.5})
    run.finish()


def test_a_surrogate_split_is_refused_and_other_splits_are_kept(
    start_run: StartRun, runstream_dir: Settings, caught: list[warnings.WarningMessage]
) -> None:
    run = start_run()
    run.log({"loss": 1.0}, step=0, split="train")
    run.log({"loss": 2.0}, step=1, split="\udcff")
    run.log({"loss": 3.0}, step=2, split="train")
    report = run.finish()
    assert report.not_recorded == {
        "rejected: split '\\udcff': not valid UTF-8 (a lone surrogate at position 0)": 1
    }
    assert len(tracking(caught)) == 1
    assert stored(runstream_dir, run.id)["points"] == [
        ("loss", "train", 0, 1.0),
        ("loss", "train", 2, 3.0),
    ]
    strict = start_run(strict=True)
    with pytest.raises(runstream.InvalidInputError, match="split"):
        strict.log({"loss": 1.0}, split="\udcff")
    with pytest.raises(runstream.InvalidInputError, match=r"split.*control"):
        strict.log({"loss": 1.0}, split="a\nb")
    strict.finish()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": BAD}, "run name.*not valid UTF-8"),
        ({"tags": ["ok", BAD]}, "tag.*not valid UTF-8"),
        ({"notes": BAD}, "notes: not valid UTF-8"),
        ({"config": {BAD: 1}}, "config key.*not valid UTF-8"),
        ({"config": {"opt": {"name": BAD}}}, r"config key 'opt\.name': not valid UTF-8"),
    ],
)
def test_init_refuses_surrogates_by_name(
    start_run: StartRun, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(runstream.InvalidInputError, match=message):
        start_run(**arguments)
    assert runstream.active_run() is None


def test_surrogates_in_samples_summary_and_artifacts_are_counted(
    start_run: StartRun,
    runstream_dir: Settings,
    tmp_path: Path,
    caught: list[warnings.WarningMessage],
) -> None:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights")
    run = start_run()
    run.log({"loss": 0.5}, step=0)
    run.log_samples(["fine", BAD, {"nested": BAD}], ["a", "b", "c"])  # JSON escapes the 3rd
    run.summary[BAD] = 1.0
    run.summary["best"] = BAD
    run.summary["final"] = 0.9
    assert run.log_artifact(checkpoint, name=BAD) == ""
    assert run.log_artifact(checkpoint, kind=BAD) == ""
    assert run.log_artifact(checkpoint, metadata={"epoch": BAD}) == ""
    assert len(run.log_artifact(checkpoint, name="good")) == 64
    report = run.finish()
    assert report.not_recorded == {
        f"rejected: samples inputs: {SURROGATE}": 1,
        f"rejected: summary key {BAD!r}: {SURROGATE}": 1,
        f"rejected: summary key 'best': {SURROGATE}": 1,
        f"rejected: artifact name {BAD!r}: {SURROGATE}": 1,
        f"rejected: artifact 'model.pt' kind: {SURROGATE}": 1,
        f"rejected: artifact 'model.pt' metadata 'epoch': {SURROGATE}": 1,
    }
    assert len(tracking(caught)) == 6
    assert dict(run.summary) == {"final": 0.9}
    got = stored(runstream_dir, run.id)
    assert got["points"] == [("loss", "", 0, 0.5)] and got["samples"] == 2
    assert got["not_recorded"] == report.not_recorded


def test_surrogates_raise_by_name_in_a_strict_run(start_run: StartRun, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights")
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidValueError, match=r"samples inputs\[1\]: not valid"):
        run.log_samples(["fine", BAD], ["a", "b"])
    with pytest.raises(runstream.InvalidKeyError, match=r"summary key 'acc.*not valid"):
        run.summary[BAD] = 1.0
    with pytest.raises(runstream.InvalidInputError, match="summary key 'best': not valid"):
        run.summary["best"] = BAD
    with pytest.raises(runstream.InvalidKeyError, match=r"artifact name.*not valid"):
        run.log_artifact(checkpoint, name=BAD)
    with pytest.raises(runstream.InvalidValueError, match="kind: not valid"):
        run.log_artifact(checkpoint, kind=BAD)
    with pytest.raises(runstream.InvalidValueError, match="metadata 'epoch': not valid"):
        run.log_artifact(checkpoint, metadata={"epoch": BAD})
    assert run.finish().complete


def test_summary_errors_say_summary_key(start_run: StartRun) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidInputError, match="summary key 'model'") as raised:
        run.summary["model"] = object()
    assert "config" not in str(raised.value)
    with pytest.raises(runstream.InvalidInputError, match=r"summary key 'text'.*longer"):
        run.summary["text"] = "x" * 70_000
    run.finish()


# -- a RunStarted too big for one envelope is cut, counted, and kept -------------------


def test_megabytes_of_notes_are_truncated_visibly_and_the_run_is_kept(
    start_run: StartRun, runstream_dir: Settings
) -> None:
    run = start_run(name="long-notes", notes="n" * 10_000_000)
    run.log({"loss": 0.5}, step=0)
    report = run.finish()
    assert report.not_recorded == {"run_started.truncated": 1}
    got = stored(runstream_dir, run.id)
    [(name, notes)] = got["names"]
    assert name == "long-notes"
    assert notes.startswith("nnn") and notes.endswith("bytes]")
    assert "[truncated by runstream: " in notes and len(notes) <= 64 * 1024
    assert got["points"] == [("loss", "", 0, 0.5)]
    assert got["not_recorded"] == {"run_started.truncated": 1}


def test_hundreds_of_large_environment_variables_are_cut_and_the_run_is_kept(
    start_run: StartRun, runstream_dir: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(250):
        monkeypatch.setenv(f"BIG_VARIABLE_{index}", "v" * 4000)
    monkeypatch.setenv("UNDECODABLE", "caf\udce9")  # a byte that is not UTF-8, as Python sees it
    run = start_run(name="big-env", capture_env=True)
    run.log({"loss": 0.5}, step=0)
    report = run.finish()
    assert report.not_recorded["run_started.truncated"] >= 250
    assert set(report.not_recorded) == {"run_started.truncated"}
    got = stored(runstream_dir, run.id)
    assert got["names"][0][0] == "big-env"
    assert got["points"] == [("loss", "", 0, 0.5)]


# -- numbers: tensors and numpy values are accepted -----------------------------------


def test_tensors_and_numpy_values_are_numbers(
    start_run: StartRun, runstream_dir: Settings, caught: list[warnings.WarningMessage]
) -> None:
    run = start_run(strict=True)
    weight = torch.tensor(0.75, requires_grad=True)
    run.log(
        {
            "t0": torch.tensor(0.5),
            "t1": torch.tensor([0.25], dtype=torch.float64),
            "tint": torch.tensor(7),
            "tgrad": weight * 1,
            "np32": np.float32(0.5),
            "np64": np.float64(0.1),
            "npint": np.int64(3),
            "nparr": np.array([1.5]),
            "np0d": np.array(2.5),
            "npbool": np.bool_(True),
        },
        step=0,
    )
    run.log({"t0": torch.tensor(1.5)}, step=1)  # a known key takes the slow path too
    with pytest.raises(runstream.InvalidValueError, match=r"'big'.*shape \(3,\)"):
        run.log({"big": torch.zeros(3)}, step=2)
    report = run.finish()
    assert report.not_recorded == {"metric values rejected as invalid": 1}
    assert not tracking(caught)
    values = {(key, step): value for key, _, step, value in stored(runstream_dir, run.id)["points"]}
    assert values == {
        ("t0", 0): 0.5,
        ("t1", 0): 0.25,
        ("tint", 0): 7.0,
        ("tgrad", 0): 0.75,
        ("np32", 0): 0.5,
        ("np64", 0): 0.1,
        ("npint", 0): 3.0,
        ("nparr", 0): 1.5,
        ("np0d", 0): 2.5,
        ("npbool", 0): 1.0,
        ("t0", 1): 1.5,
    }


# -- malformed calls say what they expect ---------------------------------------------


def test_a_cyclic_config_names_the_key_path(start_run: StartRun) -> None:
    config: dict[str, Any] = {"model": {"width": 8}}
    config["model"]["parent"] = config
    with pytest.raises(runstream.InvalidConfigError, match=r"'model\.parent'.*cycle"):
        start_run(config=config)
    layers: list[Any] = [1, 2]
    layers.append(layers)
    with pytest.raises(runstream.InvalidConfigError, match=r"'layers'.*cycle"):
        start_run(config={"layers": layers})
    assert runstream.active_run() is None


def test_a_list_passed_to_log_says_what_log_expects(
    start_run: StartRun, caught: list[warnings.WarningMessage]
) -> None:
    run = start_run()
    run.log([("a", 1.0)])  # type: ignore[arg-type]
    run.log([("a", 2.0)])  # type: ignore[arg-type]
    reason = "rejected: log(): expects a mapping of metric names to numbers, got list"
    assert run.finish().not_recorded == {reason: 2}
    assert len(tracking(caught)) == 1
    strict = start_run(strict=True)
    with pytest.raises(runstream.InvalidValueError, match=r"expects a mapping.*got list"):
        strict.log([("a", 1.0)])  # type: ignore[arg-type]
    strict.finish()


def test_log_samples_takes_any_iterable_once(start_run: StartRun, runstream_dir: Settings) -> None:
    run = start_run(strict=True)
    run.log_samples(iter(["x0", "x1"]), (p for p in ["a", "b"]), iter(["a", "c"]), step=3)
    with pytest.raises(runstream.InvalidValueError, match="samples inputs: expected a list"):
        run.log_samples(5, ["a"])  # type: ignore[arg-type]
    with pytest.raises(runstream.InvalidValueError, match="samples inputs: expected a list"):
        run.log_samples("abc", ["a", "b", "c"])
    with pytest.raises(runstream.InvalidValueError, match="samples labels: expected a list"):
        run.log_samples(["x"], ["y"], {"x": "y"})
    run.log_samples(np.array([[0.5, 1.5], [2.5, 3.5]]), torch.tensor([1, 0]), step=4)
    run.finish()
    assert stored(runstream_dir, run.id)["samples"] == 4


@pytest.mark.parametrize("step", [True, False, -1])
def test_step_is_a_non_negative_int_and_not_a_bool(
    start_run: StartRun, runstream_dir: Settings, step: object
) -> None:
    strict = start_run(strict=True)
    with pytest.raises(runstream.InvalidInputError, match="step: must be a non-negative integer"):
        strict.log({"loss": 1.0}, step=step)  # type: ignore[arg-type]
    with pytest.raises(runstream.InvalidInputError, match="step: must be a non-negative integer"):
        strict.log_samples(["x"], ["y"], step=step)  # type: ignore[arg-type]
    strict.finish()
    run = start_run()
    with pytest.warns(runstream.TrackingWarning, match="step: must be a non-negative integer"):
        run.log({"loss": 1.0}, step=step)  # type: ignore[arg-type]
    run.log({"loss": 2.0}, step=5)
    report = run.finish()
    [reason] = report.not_recorded
    assert reason.startswith("rejected: step: must be a non-negative integer")
    assert stored(runstream_dir, run.id)["points"] == [("loss", "", 5, 2.0)]


# -- the default policy: count, warn once per key and problem -------------------------


def test_a_bad_value_is_counted_per_key_and_problem_and_warned_once(
    start_run: StartRun, runstream_dir: Settings, caught: list[warnings.WarningMessage]
) -> None:
    run = start_run()
    for step in range(3):
        run.log({"loss": 0.5, "acc": "high"}, step=step)
    run.log({"acc": None}, step=3)
    run.log({"other": "x"}, step=4)
    report = run.finish()
    assert report.not_recorded == {
        "rejected: metric 'acc': expected a number, got str": 3,
        "rejected: metric 'acc': expected a number, got NoneType": 1,
        "rejected: metric 'other': expected a number, got str": 1,
    }
    messages = tracking(caught)
    assert len(messages) == 3
    assert "metric 'acc': expected a number, got str ('high')" in messages[0]
    assert all(r.filename == __file__ for r in caught), "warnings point at the caller"
    got = stored(runstream_dir, run.id)
    assert got["points"] == [("loss", "", step, 0.5) for step in range(3)]
    assert got["not_recorded"] == report.not_recorded


def test_runstream_strict_turns_on_strict_runs(
    start_run: StartRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNSTREAM_STRICT", "1")
    run = start_run()
    assert run.strict
    with pytest.raises(runstream.InvalidValueError):
        run.log({"acc": "high"})
    run.finish()
    assert not start_run(strict=False).strict
    runstream.finish()


def test_a_full_disk_when_storing_an_artifact_is_counted_not_raised(
    start_run: StartRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caught: list[warnings.WarningMessage],
) -> None:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights")

    def full(source: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    run = start_run()
    monkeypatch.setattr(run._artifacts, "put", full)
    assert run.log_artifact(checkpoint, name="ckpt") == ""
    assert run.log_artifact(checkpoint, name="ckpt") == ""
    run.log({"loss": 0.5})
    assert run.finish().not_recorded == {"artifact 'ckpt': disk full": 2}
    assert len(tracking(caught)) == 1
    strict = start_run(strict=True)
    monkeypatch.setattr(strict._artifacts, "put", full)
    with pytest.raises(OSError, match="No space"):
        strict.log_artifact(checkpoint)
    strict.finish()


def test_undecodable_bytes_in_the_command_line_do_not_lose_the_run(
    start_run: StartRun, runstream_dir: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Undecodable bytes of a file name arrive in sys.argv as lone surrogates."""
    monkeypatch.setattr("sys.argv", ["/tmp/tr\udce9in.py", "--data", "caf\udce9"])
    run = start_run()
    run.log({"loss": 0.5}, step=0)
    assert run.finish().complete
    got = stored(runstream_dir, run.id)
    assert got["names"][0][0].startswith("tr\\udce9in-")
    assert got["points"] == [("loss", "", 0, 0.5)]


def test_an_unknown_runstream_strict_value_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runstream.settings import load_settings

    monkeypatch.setenv("RUNSTREAM_STRICT", "maybe")
    with pytest.raises(runstream.InvalidInputError, match="RUNSTREAM_STRICT must be"):
        load_settings()
    for value, strict in [("true", True), ("0", False), ("", False), ("YES", True)]:
        monkeypatch.setenv("RUNSTREAM_STRICT", value)
        assert load_settings().strict is strict


def test_many_distinct_problems_share_one_entry_beyond_the_cap(
    start_run: StartRun, caught: list[warnings.WarningMessage]
) -> None:
    from runstream.run import MAX_REFUSAL_KINDS

    run = start_run()
    for index in range(MAX_REFUSAL_KINDS + 5):
        run.log({f"key{index}": "text"}, step=index)
    report = run.finish()
    assert len(report.not_recorded) == MAX_REFUSAL_KINDS + 1
    assert sum(report.not_recorded.values()) == MAX_REFUSAL_KINDS + 5
    assert len(tracking(caught)) == MAX_REFUSAL_KINDS + 1
