"""What the processors refuse of evaluable samples and evaluation events from any producer."""

from __future__ import annotations

import pytest
from runstream.wire import events_pb2 as pb
from runstream_processors.errors import InvalidEventError
from runstream_processors.kinds import evaluation, samples
from runstream_processors.tables import TableRows


def batch(**sample: object) -> pb.Envelope:
    envelope = pb.Envelope(event_id="e1", project="p", run_id="r")
    envelope.samples.class_names.extend(["a", "b"])
    envelope.samples.samples.add(id="0", prediction="a", label="a", has_label=True, **sample)
    return envelope


@pytest.mark.parametrize(
    ("sample", "problem"),
    [
        ({"probabilities": [1.0]}, "1 probabilities for 2 class names"),
        ({"scores": [1.0, float("inf")]}, "scores not finite"),
        ({"slices": {f"k{i}": "v" for i in range(17)}}, "too many slices"),
    ],
)
def test_samples_that_do_not_fit_their_class_names_are_refused(
    sample: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidEventError, match=problem):
        samples.check(batch(**sample))


def test_regression_samples_have_numbers_and_no_correct() -> None:
    envelope = batch(prediction_value=1.5, target=2.0)
    envelope.samples.task = "regression"
    del envelope.samples.class_names[:]
    out = TableRows()
    samples.rows(envelope, out)
    table = out.tables()["samples"]
    assert table.column("correct").to_pylist() == [None]
    assert table.column("target").to_pylist() == [2.0]


def test_an_evaluation_needs_a_known_task_and_named_metrics() -> None:
    envelope = pb.Envelope(event_id="e1", project="p", run_id="r")
    envelope.evaluation.task = "ranking"
    with pytest.raises(InvalidEventError, match="unknown evaluation task"):
        evaluation.check(envelope)
    envelope.evaluation.task = "classification"
    envelope.evaluation.metrics.add(value=1.0)
    with pytest.raises(InvalidEventError, match="without a name"):
        evaluation.check(envelope)
