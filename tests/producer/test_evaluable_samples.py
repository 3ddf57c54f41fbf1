"""``log_samples`` with what evaluation needs: checked at the call, stored as given.

A sample whose probabilities, class or slice cannot be stored is left out, counted and
warned about (a strict run raises); a call whose fields differ in length or whose class
names cannot be stored records nothing of the call. What is kept reaches the store's
new sample columns, with ``correct`` decided per task.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import runstream
import torch
from runstream.settings import Settings
from support.runs import store

StartRun = Callable[..., runstream.Run]


def samples_of(settings: Settings, run_id: str) -> list[tuple[Any, ...]]:
    with store(settings) as client:
        return client.query(
            "SELECT prediction, label, correct, class_names, task, probabilities, slices, "
            "metadata, prediction_value, target FROM runstream.samples "
            "WHERE run_id = {r:String} ORDER BY input",
            parameters={"r": run_id},
        ).result_rows


def test_probabilities_class_names_and_slices_are_stored(
    start_run: StartRun, runstream_dir: Settings
) -> None:
    run = start_run(strict=True)
    run.log_samples(
        ["a", "b"],
        torch.tensor([1, 0]),  # class indices become class names
        np.array([1, 1]),
        probabilities=torch.tensor([[0.25, 0.75], [0.6, 0.4]]),
        class_names=["even", "odd"],
        slices={"lang": ["de", "en"]},
        metadata={"source": ["web", "book"]},
        split="eval",
    )
    run.log_samples(["c"], ["odd"], ["odd"], probabilities=[0.9], class_names=["even", "odd"])
    run.finish()
    rows = samples_of(runstream_dir, run.id)
    assert [row[:3] for row in rows] == [
        ("odd", "odd", True),
        ("even", "odd", False),
        ("odd", "odd", True),
    ]
    first = rows[0]
    assert first[3] == ["even", "odd"] and first[4] == ""
    assert first[5] == pytest.approx([0.25, 0.75])
    assert (first[6], first[7]) == ({"lang": "de"}, {"source": "web"})
    assert rows[2][5] == pytest.approx([0.1, 0.9])  # one number: the second class's probability


def test_regression_targets_are_numbers_and_have_no_correct(
    start_run: StartRun, runstream_dir: Settings
) -> None:
    run = start_run(strict=True)
    run.log_samples(["a", "b"], [1.5, np.float32(2.0)], [1, 2], task="regression")
    run.finish()
    rows = samples_of(runstream_dir, run.id)
    assert [(row[2], row[4], row[8], row[9]) for row in rows] == [
        (None, "regression", 1.5, 1.0),
        (None, "regression", 2.0, 2.0),
    ]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"probabilities": [[0.5, 0.5, 0.0], [0.5, 0.5]]}, r"probabilities\[0\]: 3 values"),
        ({"probabilities": [[0.5, 0.6], [0.5, 0.5]]}, r"probabilities\[0\]: probabilities sum"),
        ({"probabilities": [[float("nan"), 1.0], [0.5, 0.5]]}, r"probabilities\[0\]: nan"),
        ({"scores": [["x", 1.0], [0.5, 0.5]]}, r"scores\[0\]: 'x' is not a number"),
        ({"predictions": [5, 0]}, r"predictions\[0\]: class index 5 is outside 0..1"),
        ({"predictions": ["cow", "even"]}, r"predictions\[0\]: 'cow' is not one of"),
        ({"slices": {"lang": ["x" * 300, "de"]}}, r"slices\['lang'\]\[0\]: 300 bytes"),
    ],
)
def test_a_bad_sample_is_left_out_and_counted(
    start_run: StartRun, runstream_dir: Settings, kwargs: dict[str, Any], problem: str
) -> None:
    call: dict[str, Any] = {"class_names": ["even", "odd"], "predictions": [0, 1], **kwargs}
    strict = start_run(strict=True)
    with pytest.raises(runstream.InvalidValueError, match=problem):
        strict.log_samples(["a", "b"], labels=[0, 1], **call)
    strict.finish()
    run = start_run()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.log_samples(["a", "b"], labels=[0, 1], **call)
    assert any(issubclass(w.category, runstream.TrackingWarning) for w in caught)
    report = run.finish()
    assert sum(report.not_recorded.values()) == 1
    assert len(samples_of(runstream_dir, run.id)) == 1  # the good sample is kept


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"class_names": ["a", "a"]}, "class_names: names repeat"),
        ({"class_names": []}, "class_names: 0 names"),
        ({"slices": {"lang": ["de"]}}, "fields differ in length"),
        ({"slices": {"": ["de", "en"]}}, "samples slices: name ''"),
        ({"slices": {f"k{i}": ["x", "y"] for i in range(17)}}, "17 names, the limit is 16"),
        ({"probabilities": [[0.5, 0.5]]}, "fields differ in length"),
        ({"task": "ranking"}, "samples task: expected one of"),
        ({"task": "regression", "class_names": ["a"]}, "regression samples have no"),
    ],
)
def test_a_bad_call_records_nothing(
    start_run: StartRun, runstream_dir: Settings, kwargs: dict[str, Any], problem: str
) -> None:
    strict = start_run(strict=True)
    with pytest.raises(runstream.InvalidValueError, match=problem):
        strict.log_samples(["a", "b"], [0, 1], [0, 1], **kwargs)
    strict.finish()
    run = start_run()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        run.log_samples(["a", "b"], [0, 1], [0, 1], **kwargs)
    assert run.finish().not_recorded
    assert samples_of(runstream_dir, run.id) == []
