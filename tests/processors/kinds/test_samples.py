"""``samples.correct``: numbers compare as numbers, anything else as strings."""

from __future__ import annotations

import pytest
from runstream_processors.kinds.samples import same_answer


@pytest.mark.parametrize(
    ("prediction", "label"),
    [("1.0", "1"), ("1", "1.00"), ("1e3", "1000"), ("-0", "0"), ("cat", "cat"), ("", "")],
)
def test_these_match(prediction: str, label: str) -> None:
    assert same_answer(prediction, label)


@pytest.mark.parametrize(
    ("prediction", "label"),
    [
        ("1.5", "1"),
        ("cat", "dog"),
        ("1", "one"),
        ("Cat", "cat"),
        ("12345678901234567891", "12345678901234567890"),
        ("nan", "1"),
    ],
)
def test_these_do_not(prediction: str, label: str) -> None:
    assert not same_answer(prediction, label)


def test_not_a_number_compares_as_a_string() -> None:
    assert same_answer("nan", "nan") and not same_answer("nan", "NaN")


def test_rows_mark_a_numeric_prediction_correct_against_an_integer_label() -> None:
    from runstream.wire import events_pb2 as pb
    from runstream_processors.kinds import samples
    from runstream_processors.tables import TableRows

    envelope = pb.Envelope(event_id="e1", project="p", run_id="r")
    for sample_id, prediction, label in (("0", "1.0", "1"), ("1", "2", "1"), ("2", "x", None)):
        sample = envelope.samples.samples.add(id=sample_id, prediction=prediction)
        if label is not None:
            sample.label = label
            sample.has_label = True
    out = TableRows()
    samples.rows(envelope, out)
    assert out.tables()["samples"].column("correct").to_pylist() == [True, False, None]
