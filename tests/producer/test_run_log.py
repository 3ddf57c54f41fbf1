"""``run.log`` through the real spool: exactly the logged points arrive, bad input is named."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import runstream
from runstream.limits import MAX_ENVELOPE_BYTES, MAX_KEY_LENGTH
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb

StartRun = Callable[..., runstream.Run]
Point = tuple[str, int, float, str]


@pytest.fixture
def spool_points(
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    metric_points: Callable[[list[pb.Envelope]], list[Point]],
    runstream_dir: Settings,
) -> Callable[[], list[Point]]:
    """Every (key, step, value, split) in this test's spool, sorted."""
    return lambda: sorted(metric_points(read_envelopes(runstream_dir)))


def test_columnar_batches_decode_to_exactly_the_logged_points(
    start_run: StartRun, spool_points: Callable[[], list[Point]]
) -> None:
    run = start_run()
    logged: list[Point] = []
    for step in range(50):
        train = {"loss": 1.0 / (step + 1), "lr": 0.1 * 0.99**step}
        if step % 7 == 0:
            train["grad_norm"] = float(step)  # a key that is only sometimes present
        run.log(train, step=step, split="train")
        logged += [(key, step, value, "train") for key, value in train.items()]
        if step % 10 == 9:
            run.log({"loss": 0.5, "accuracy": step / 50}, step=step, split="eval")
            logged += [("loss", step, 0.5, "eval"), ("accuracy", step, step / 50, "eval")]
    run.log({"epoch_time": 12.5}, step=49)
    logged.append(("epoch_time", 49, 12.5, ""))
    run.finish()
    assert spool_points() == sorted(logged)


def test_integers_and_floats_are_recorded_as_numbers(
    start_run: StartRun, spool_points: Callable[[], list[Point]]
) -> None:
    run = start_run()
    run.log({"tokens": 1024, "loss": 2.5, "flag": True}, step=0)
    run.log({"tokens": 2048, "loss": 2.0, "flag": False}, step=1)  # known keys: the fast path
    run.finish()
    assert spool_points() == sorted(
        [
            ("tokens", 0, 1024.0, ""),
            ("loss", 0, 2.5, ""),
            ("flag", 0, 1.0, ""),
            ("tokens", 1, 2048.0, ""),
            ("loss", 1, 2.0, ""),
            ("flag", 1, 0.0, ""),
        ]
    )


def test_numpy_scalars_and_zero_d_arrays_are_accepted(
    start_run: StartRun, spool_points: Callable[[], list[Point]]
) -> None:
    run = start_run()
    run.log(
        {"a": np.float32(0.5), "b": np.int64(3), "c": np.array(2.25), "d": np.float64(1.5)}, step=0
    )
    run.finish()
    assert spool_points() == [
        ("a", 0, 0.5, ""),
        ("b", 0, 3.0, ""),
        ("c", 0, 2.25, ""),
        ("d", 0, 1.5, ""),
    ]


def test_the_step_defaults_to_one_past_the_last(
    start_run: StartRun, spool_points: Callable[[], list[Point]]
) -> None:
    run = start_run()
    run.log({"x": 0.0})  # step 0
    run.log({"x": 1.0})  # step 1
    run.log({"x": 10.0}, step=10)
    run.log({"x": 11.0})  # step 11
    run.finish()
    assert [step for _, step, _, _ in spool_points()] == [0, 1, 10, 11]


def test_nan_and_inf_are_recorded_and_counted(
    start_run: StartRun,
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    spool_points: Callable[[], list[Point]],
    runstream_dir: Settings,
) -> None:
    run = start_run()
    run.log({"loss": 1.0, "grad": 2.0}, step=0)
    run.log({"loss": float("nan"), "grad": float("inf")}, step=1)
    run.log({"loss": np.float64("nan"), "grad": -math.inf}, step=2)
    report = run.finish()

    values = {(key, step): value for key, step, value, _ in spool_points()}
    assert values[("loss", 0)] == 1.0
    assert math.isnan(values[("loss", 1)]) and math.isnan(values[("loss", 2)])
    assert values[("grad", 1)] == math.inf and values[("grad", 2)] == -math.inf
    assert report.nonfinite_values == 4
    assert report.nonfinite_keys == ("grad", "loss")
    assert report.points == 6 and report.complete, "NaN/Inf are recorded, not lost"
    assert read_envelopes(runstream_dir)[-1].run_finished.nonfinite_values == 4


@pytest.mark.parametrize(
    ("bad_value", "type_name"),
    [
        ("0.5", "str"),
        (None, "NoneType"),
        ([1.0, 2.0], "list"),
        (np.zeros(3), "ndarray"),
        (1 + 2j, "complex"),
    ],
)
def test_a_non_numeric_value_is_named_and_the_valid_keys_are_still_recorded(
    start_run: StartRun,
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    spool_points: Callable[[], list[Point]],
    runstream_dir: Settings,
    bad_value: object,
    type_name: str,
) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidValueError, match=rf"'bad'.*{type_name}"):
        run.log({"loss": 0.25, "bad": bad_value, "acc": 0.75}, step=4)
    report = run.finish()
    assert spool_points() == [("acc", 4, 0.75, ""), ("loss", 4, 0.25, "")]
    assert report.not_recorded == {"metric values rejected as invalid": 1}
    assert dict(read_envelopes(runstream_dir)[-1].run_finished.not_recorded) == {
        "metric values rejected as invalid": 1
    }


def test_a_bad_value_under_a_known_key_is_caught_too(
    start_run: StartRun, spool_points: Callable[[], list[Point]]
) -> None:
    run = start_run(strict=True)
    run.log({"loss": 1.0}, step=0)
    with pytest.raises(runstream.InvalidValueError, match="'loss'"):
        run.log({"loss": "1.0"}, step=1)
    run.finish()
    assert spool_points() == [("loss", 0, 1.0, "")]


def test_every_problem_of_one_call_is_reported_together(start_run: StartRun) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidKeyError) as raised:
        run.log({"": 1.0, "a": "x", "b": None})
    message = str(raised.value)
    assert "''" in message and "'a'" in message and "'b'" in message
    run.finish()


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * (MAX_KEY_LENGTH + 1), "limit"),
        ("tab\there", "control"),
        (3, "strings"),
    ],
)
def test_bad_keys_raise_invalid_key_error(
    start_run: StartRun, spool_points: Callable[[], list[Point]], key: object, problem: str
) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidKeyError, match=problem):
        run.log({key: 1.0, "ok": 2.0}, step=0)  # type: ignore[dict-item]
    run.finish()
    assert spool_points() == [("ok", 0, 2.0, "")]


def test_a_key_at_the_length_limit_is_fine(
    start_run: StartRun, spool_points: Callable[[], list[Point]]
) -> None:
    run = start_run()
    run.log({"k" * MAX_KEY_LENGTH: 1.0}, step=0)
    run.finish()
    assert spool_points() == [("k" * MAX_KEY_LENGTH, 0, 1.0, "")]


# A bad argument on the fast path (known keys, float values) must be refused in the
# caller's thread: the background recorder cannot raise to anyone, and if it fails
# everything queued with it would be lost.


@pytest.mark.parametrize("split", [123, None, b"train"])
def test_a_split_that_is_not_text_is_refused_even_for_known_keys(
    start_run: StartRun, spool_points: Callable[[], list[Point]], split: object
) -> None:
    run = start_run(strict=True)
    run.log({"loss": 1.0}, step=0)
    with pytest.raises(runstream.InvalidInputError, match="split"):
        run.log({"loss": 2.0}, step=1, split=split)  # type: ignore[arg-type]
    run.log({"loss": 3.0}, step=2)
    report = run.finish()
    assert spool_points() == [("loss", 0, 1.0, ""), ("loss", 2, 3.0, "")]
    assert report.points == 2


@pytest.mark.parametrize("step", [1.5, "3", 2**64, float("nan")])
def test_a_step_that_is_not_an_int64_is_refused(
    start_run: StartRun, spool_points: Callable[[], list[Point]], step: object
) -> None:
    run = start_run(strict=True)
    run.log({"loss": 1.0}, step=0)
    with pytest.raises(runstream.InvalidInputError, match="step"):
        run.log({"loss": 2.0}, step=step)  # type: ignore[arg-type]
    run.log({"loss": 3.0}, step=2)
    run.finish()
    assert spool_points() == [("loss", 0, 1.0, ""), ("loss", 2, 3.0, "")]


@pytest.mark.parametrize("known", [False, True], ids=["new-key", "known-key"])
def test_an_integer_too_large_for_a_double_is_an_invalid_value(
    start_run: StartRun, spool_points: Callable[[], list[Point]], known: bool
) -> None:
    run = start_run(strict=True)
    if known:
        run.log({"count": 1}, step=0)
    with pytest.raises(runstream.InvalidValueError, match="'count'"):
        run.log({"count": 10**400, "loss": 0.5}, step=1)
    report = run.finish()
    assert ("loss", 1, 0.5, "") in spool_points()
    assert report.not_recorded == {"metric values rejected as invalid": 1}


def test_metric_batches_stay_within_the_envelope_limit_the_processors_enforce(
    start_run: StartRun,
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    spool_points: Callable[[], list[Point]],
    runstream_dir: Settings,
) -> None:
    """Per-parameter statistics of a large model: thousands of long (but valid) keys at once.
    An envelope above MAX_ENVELOPE_BYTES is dead-lettered downstream, losing every point in it."""
    keys = [f"grad_norm/{i:05d}/" + "p" * (MAX_KEY_LENGTH - 16) for i in range(4_000)]
    run = start_run()
    run.log(dict.fromkeys(keys, 1.0), step=0)
    run.log(dict.fromkeys(keys, 2.0), step=1)
    run.finish()
    sizes = [e.ByteSize() for e in read_envelopes(runstream_dir)]
    assert max(sizes) <= MAX_ENVELOPE_BYTES, f"an envelope of {max(sizes)} bytes"
    assert len(spool_points()) == 8_000
