"""Evaluation numbers against independent computations on fixed data.

The reference values are computed here the long way (loops over samples and bins, scipy's
binomial test for Wilson intervals), not with the module's own helpers, so a wrong bin
edge, weight or average in ``analysis/evaluation.py`` fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from runstream_processors.analysis import evaluation as ev
from scipy.stats import binomtest

CLASSES = ["cat", "dog", "owl"]
# 12 fixed samples: label, prediction, probabilities (cat, dog, owl), slice "size".
DATA = [
    ("cat", "cat", (0.90, 0.05, 0.05), "big"),
    ("cat", "cat", (0.60, 0.30, 0.10), "big"),
    ("cat", "dog", (0.30, 0.50, 0.20), "small"),
    ("dog", "dog", (0.10, 0.80, 0.10), "big"),
    ("dog", "dog", (0.20, 0.70, 0.10), "small"),
    ("dog", "cat", (0.55, 0.40, 0.05), "small"),
    ("owl", "owl", (0.05, 0.05, 0.90), "big"),
    ("owl", "dog", (0.20, 0.45, 0.35), "small"),
    ("cat", "cat", (0.99, 0.005, 0.005), "big"),
    ("owl", "owl", (0.10, 0.23, 0.67), "small"),
    ("cat", "owl", (0.30, 0.30, 0.40), "big"),
    ("dog", "dog", (0.34, 0.66, 0.00), "small"),
]


def rows(data: list[tuple[str, str, tuple[float, ...], str]] = DATA) -> list[dict[str, object]]:
    return [
        {
            "label": label,
            "prediction": prediction,
            "probabilities": list(probabilities),
            "scores": [],
            "class_names": CLASSES,
            "slices": {"size": size},
            "task": "",
            "prediction_value": None,
            "target": None,
        }
        for label, prediction, probabilities, size in data
    ]


def by_key(evaluation: ev.Evaluation) -> dict[tuple[str, str, str, str], ev.Metric]:
    return {m.key: m for m in evaluation.metrics}


def reference_ece(data: list[tuple[str, str, tuple[float, ...], str]], bins: int) -> float:
    """ECE the long way: bin b holds confidences in (b/bins, (b+1)/bins], 0 in bin 0."""
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = []
        for label, prediction, probabilities, _ in data:
            confidence = probabilities[CLASSES.index(prediction)]
            if low < confidence <= high or (b == 0 and confidence == 0):
                inside.append((confidence, label == prediction))
        if inside:
            mean_confidence = sum(c for c, _ in inside) / len(inside)
            accuracy = sum(ok for _, ok in inside) / len(inside)
            total += len(inside) / len(data) * abs(accuracy - mean_confidence)
    return total


@pytest.mark.parametrize("bins", [15, 10, 4])
def test_ece_mce_and_brier_match_a_computation_by_hand(bins: int) -> None:
    result = ev.evaluate(ev.samples_from_rows(rows()), ev.Options(bins=bins))
    metrics = by_key(result)
    assert metrics["", "", "ece", ""].value == pytest.approx(reference_ece(DATA, bins), abs=1e-12)
    gaps = [abs(b.accuracy - b.confidence) for b in result.calibration]
    assert metrics["", "", "mce", ""].value == pytest.approx(max(gaps))
    assert sum(b.count for b in result.calibration) == len(DATA)
    brier = sum(
        sum((p - (CLASSES[k] == label)) ** 2 for k, p in enumerate(probabilities))
        for label, _, probabilities, _ in DATA
    ) / len(DATA)
    assert metrics["", "", "brier", ""].value == pytest.approx(brier)


def test_ece_of_known_bins() -> None:
    """Two samples at 0.9 (one right), two at 0.6 (both right): |0.5-0.9|/2 + |1-0.6|/2."""
    data = [
        ("cat", "cat", (0.9, 0.05, 0.05), "a"),
        ("dog", "cat", (0.9, 0.05, 0.05), "a"),
        ("dog", "dog", (0.2, 0.6, 0.2), "a"),
        ("owl", "owl", (0.2, 0.2, 0.6), "a"),
    ]
    metrics = by_key(ev.evaluate(ev.samples_from_rows(rows(data)), ev.Options(bins=10)))
    assert metrics["", "", "ece", ""].value == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    assert metrics["", "", "accuracy", ""].value == pytest.approx(0.75)


def test_per_slice_numbers_match_an_independent_computation() -> None:
    result = ev.evaluate(ev.samples_from_rows(rows()), ev.Options(by=("size",), confidence=0.9))
    metrics = by_key(result)
    for size in ("big", "small"):
        part = [row for row in DATA if row[3] == size]
        hits = sum(label == prediction for label, prediction, _, _ in part)
        accuracy = metrics["size", size, "accuracy", ""]
        assert accuracy.count == len(part)
        assert accuracy.value == pytest.approx(hits / len(part))
        wilson = binomtest(hits, len(part)).proportion_ci(confidence_level=0.9, method="wilson")
        assert accuracy.ci == pytest.approx((wilson.low, wilson.high))
        # macro F1 over the classes that occur in the slice (as label or prediction)
        present = [c for c in CLASSES if any(c in (row[0], row[1]) for row in part)]
        f1s = []
        for c in present:
            tp = sum(label == c and prediction == c for label, prediction, _, _ in part)
            predicted = sum(prediction == c for _, prediction, _, _ in part)
            actual = sum(label == c for label, _, _, _ in part)
            precision = tp / predicted if predicted else 0.0
            recall = tp / actual if actual else 0.0
            f1s.append(2 * precision * recall / (precision + recall) if tp else 0.0)
        assert metrics["size", size, "f1_macro", ""].value == pytest.approx(sum(f1s) / len(f1s))
        assert metrics["size", size, "ece", ""].value == pytest.approx(reference_ece(part, 15))


def test_per_class_precision_recall_and_the_confusion_matrix() -> None:
    result = ev.evaluate(ev.samples_from_rows(rows()), ev.Options())
    metrics = by_key(result)
    for c in CLASSES:
        tp = sum(label == c and prediction == c for label, prediction, _, _ in DATA)
        predicted = sum(prediction == c for _, prediction, _, _ in DATA)
        actual = sum(label == c for label, _, _, _ in DATA)
        assert metrics["", "", "precision", c].value == pytest.approx(tp / predicted)
        assert metrics["", "", "recall", c].value == pytest.approx(tp / actual)
        assert metrics["", "", "recall", c].count == actual
    cells = {(label, prediction): count for label, prediction, count in result.confusion}
    expected: dict[tuple[str, str], int] = {}
    for label, prediction, _, _ in DATA:
        expected[label, prediction] = expected.get((label, prediction), 0) + 1
    assert cells == expected


def test_the_majority_baseline_scores_the_majority_class_frequency() -> None:
    evaluated = ev.samples_from_rows(rows())
    # train labels: owl is the most frequent class there, cat in the evaluated split
    train = ev.samples_from_rows(rows([("owl", "owl", (0, 0, 1), "x")] * 3 + DATA[:2]))
    from_train = by_key(ev.evaluate(ev.majority_baseline(evaluated, train), ev.Options()))
    owls = sum(label == "owl" for label, *_ in DATA) / len(DATA)
    assert from_train["", "", "accuracy", ""].value == pytest.approx(owls)
    alone = by_key(ev.evaluate(ev.majority_baseline(evaluated), ev.Options()))
    cats = sum(label == "cat" for label, *_ in DATA) / len(DATA)
    assert cats == max(sum(label == c for label, *_ in DATA) for c in CLASSES) / len(DATA)
    assert alone["", "", "accuracy", ""].value == pytest.approx(cats)
    assert alone["", "", "recall", "cat"].value == 1.0
    assert alone["", "", "recall", "dog"].value == 0.0


def test_the_random_baseline_is_seeded_and_uniform() -> None:
    evaluated = ev.samples_from_rows(rows())
    first = ev.random_baseline(evaluated)
    assert first.predictions == ev.random_baseline(evaluated).predictions
    assert first.probabilities is not None
    assert np.allclose(first.probabilities, 1 / 3)
    assert set(first.predictions) <= set(CLASSES)


def test_a_run_compared_with_itself_shows_zero_lift() -> None:
    samples = ev.samples_from_rows(rows())
    options = ev.Options(by=("size",))
    run = ev.evaluate(samples, options).metrics
    itself = ev.evaluate(samples, options, baseline="run:x").metrics
    lifts = ev.lifts(run, itself)
    assert len(lifts) == len(run) and set(lifts.values()) == {0.0}
    majority = ev.lifts(run, ev.evaluate(ev.majority_baseline(samples), options).metrics)
    assert majority["", "", "accuracy", ""] != 0.0


def test_regression_metrics() -> None:
    targets, values = [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.0, 5.0]
    data = [
        {
            "label": str(t),
            "prediction": str(v),
            "task": "regression",
            "prediction_value": v,
            "target": t,
            "slices": {},
        }
        for t, v in zip(targets, values, strict=True)
    ]
    metrics = by_key(ev.evaluate(ev.samples_from_rows(data), ev.Options()))
    errors = [v - t for t, v in zip(targets, values, strict=True)]
    assert metrics["", "", "mae", ""].value == pytest.approx(sum(map(abs, errors)) / 4)
    rmse = math.sqrt(sum(e * e for e in errors) / 4)
    assert metrics["", "", "rmse", ""].value == pytest.approx(rmse)
    mean = sum(targets) / 4
    r2 = 1 - sum(e * e for e in errors) / sum((t - mean) ** 2 for t in targets)
    assert metrics["", "", "r2", ""].value == pytest.approx(r2)
    zero_rule = by_key(ev.evaluate(ev.majority_baseline(ev.samples_from_rows(data)), ev.Options()))
    assert zero_rule["", "", "mae", ""].value == pytest.approx(1.0)  # |t - 2.5| averaged


def test_scores_become_probabilities_by_softmax() -> None:
    data = rows()
    for row in data:
        row["scores"] = [math.log(p + 1e-9) for p in row["probabilities"]]  # type: ignore[attr-defined]
        row["probabilities"] = []
    from_scores = by_key(ev.evaluate(ev.samples_from_rows(data), ev.Options()))
    direct = by_key(ev.evaluate(ev.samples_from_rows(rows()), ev.Options()))
    assert from_scores["", "", "ece", ""].value == pytest.approx(
        direct["", "", "ece", ""].value, abs=1e-6
    )
