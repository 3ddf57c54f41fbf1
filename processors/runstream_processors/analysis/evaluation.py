"""Offline evaluation of logged samples: metrics, slices, calibration and baselines.

Everything here is computed from plain rows of ``runstream.samples`` (one run, split and
step), so the CLI, tests and any notebook get the same numbers. scikit-learn does the
metrics and the baselines' predictions (``DummyClassifier``/``DummyRegressor``); numpy the
calibration bins. Conventions:

* classes are the batch's ``class_names`` when logged, else the sorted labels and
  predictions seen;
* a sample's confidence is its probability of the predicted class (the largest one when
  the prediction is not a class name); probabilities come from ``probabilities``, else
  from the softmax of ``scores``;
* calibration uses ``bins`` equal-width bins; bin ``b`` holds confidences in
  ``(b/bins, (b+1)/bins]`` (bin 0 also holds 0). ECE = sum over bins of
  ``count/N * |accuracy - confidence|``, MCE = the largest such gap of a non-empty bin;
  Brier = mean over samples of ``sum_k (p_k - [label = k])²`` (0 best, 2 worst);
* accuracy, precision and recall carry Wilson confidence intervals; MAE a normal one;
* lift = the run's value minus the baseline's (for ece, mce, brier, mae, rmse lower is better).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

import numpy as np

LOWER_IS_BETTER = frozenset({"ece", "mce", "brier", "mae", "rmse"})
RANDOM, MAJORITY = "random", "majority"
RANDOM_SEED = 0
"""The random baseline's draws: fixed, so an evaluation recomputed is the same evaluation."""


@dataclass(frozen=True)
class Options:
    bins: int = 15
    by: tuple[str, ...] = ()
    confidence: float = 0.95


@dataclass(frozen=True)
class Samples:
    """The evaluable samples of one run, split and step (those with a label)."""

    task: str
    labels: list[str]
    predictions: list[str]
    class_names: list[str]
    probabilities: np.ndarray | None = None
    """(N, classes), rows in class_names order; None without probabilities or scores."""
    slices: dict[str, list[str]] = field(default_factory=dict)
    """slice name -> each sample's value ('' where a sample has none)."""
    targets: np.ndarray | None = None
    values: np.ndarray | None = None
    """Regression: the labels and predictions as numbers."""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> Samples:
        """The samples where ``keep`` (a boolean mask) holds."""
        index = np.flatnonzero(keep)
        return replace(
            self,
            labels=[self.labels[i] for i in index],
            predictions=[self.predictions[i] for i in index],
            probabilities=None if self.probabilities is None else self.probabilities[index],
            slices={key: [values[i] for i in index] for key, values in self.slices.items()},
            targets=None if self.targets is None else self.targets[index],
            values=None if self.values is None else self.values[index],
        )


@dataclass(frozen=True)
class Metric:
    metric: str
    value: float
    count: int
    class_name: str = ""
    slice_key: str = ""
    slice_value: str = ""
    baseline: str = ""
    ci: tuple[float, float] | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What a baseline's number is matched on: slice, metric, class."""
        return self.slice_key, self.slice_value, self.metric, self.class_name


@dataclass(frozen=True)
class Bin:
    bin: int
    low: float
    high: float
    confidence: float
    accuracy: float
    count: int


@dataclass
class Evaluation:
    task: str
    count: int
    class_names: list[str]
    metrics: list[Metric]
    calibration: list[Bin] = field(default_factory=list)
    confusion: list[tuple[str, str, int]] = field(default_factory=list)


def samples_from_rows(rows: Sequence[Mapping[str, Any]]) -> Samples:
    """Samples from ``runstream.samples`` rows (label, prediction, probabilities, scores,
    class_names, slices, task, prediction_value, target); rows without a label are skipped."""
    labelled = [row for row in rows if row.get("label") is not None]
    task = next((row["task"] for row in labelled if row.get("task")), "") or "classification"
    labels = [str(row["label"]) for row in labelled]
    predictions = [str(row["prediction"]) for row in labelled]
    slice_keys = sorted({key for row in labelled for key in (row.get("slices") or {})})
    given = [row.get("slices") or {} for row in labelled]
    slices = {key: [values.get(key, "") for values in given] for key in slice_keys}
    if task == "regression":
        return Samples(
            task,
            labels,
            predictions,
            [],
            slices=slices,
            targets=np.array([_number(row, "target", "label") for row in labelled]),
            values=np.array([_number(row, "prediction_value", "prediction") for row in labelled]),
        )
    class_names = next((list(row["class_names"]) for row in labelled if row.get("class_names")), [])
    if not class_names:
        class_names = sorted(set(labels) | set(predictions))
    return Samples(task, labels, predictions, class_names, _probabilities(labelled), slices)


def _number(row: Mapping[str, Any], column: str, text: str) -> float:
    value = row.get(column)
    return float(value) if value is not None else float(row[text])


def _probabilities(rows: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    if rows and all(len(row.get("probabilities") or ()) for row in rows):
        return np.array([list(row["probabilities"]) for row in rows], dtype=float)
    if rows and all(len(row.get("scores") or ()) for row in rows):
        scores = np.array([list(row["scores"]) for row in rows], dtype=float)
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))
    return None


def evaluate(samples: Samples, options: Options, baseline: str = "") -> Evaluation:
    """Every metric of ``samples``: overall, per class, and per value of each ``options.by``
    slice; the reliability diagram and the confusion matrix of the run itself."""
    if not len(samples):
        from ..errors import QueryError

        raise QueryError("no labelled samples to evaluate")
    metrics = _overall(samples, options)
    if samples.task != "regression":
        metrics += _per_class(samples, options)
    for key in options.by:
        values = samples.slices.get(key)
        if values is None:
            from ..errors import QueryError

            known = ", ".join(samples.slices) or "none"
            raise QueryError(f"no slice named {key!r} in the samples (slices: {known})")
        column = np.array(values, dtype=object)
        for value in sorted(set(values)):
            subset = samples.subset(column == value)
            metrics += [
                replace(m, slice_key=key, slice_value=value) for m in _overall(subset, options)
            ]
    metrics = [replace(m, baseline=baseline) for m in metrics]
    result = Evaluation(samples.task, len(samples), samples.class_names, metrics)
    if samples.task != "regression":
        confidences = _confidences(samples)
        if confidences is not None:
            result.calibration = calibration_bins(confidences, _correct(samples), options.bins)
        result.confusion = confusion_cells(samples)
    return result


def _overall(samples: Samples, options: Options) -> list[Metric]:
    if samples.task == "regression":
        return _regression(samples, options)
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    n = len(samples)
    correct = _correct(samples)
    metrics = [
        Metric(
            "accuracy",
            float(accuracy_score(samples.labels, samples.predictions)),
            n,
            ci=wilson(int(correct.sum()), n, options.confidence),
        )
    ]
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = precision_recall_fscore_support(
            samples.labels,
            samples.predictions,
            labels=_present(samples),
            average=average,
            zero_division=0,
        )
        metrics += [
            Metric(f"precision_{average}", float(precision), n),
            Metric(f"recall_{average}", float(recall), n),
            Metric(f"f1_{average}", float(f1), n),
        ]
    confidences = _confidences(samples)
    if confidences is not None and samples.probabilities is not None:
        bins = calibration_bins(confidences, correct, options.bins)
        metrics += [
            Metric("ece", expected_calibration_error(bins, n), n),
            Metric("mce", max_calibration_error(bins), n),
            Metric("brier", brier_score(samples), n),
        ]
    return metrics


def _present(samples: Samples) -> list[str]:
    """Classes that occur as a label or a prediction: averages over classes no sample has
    would count their 0s (a slice of odd digits has no precision for class 2)."""
    seen = set(samples.labels) | set(samples.predictions)
    return [name for name in samples.class_names if name in seen] + sorted(
        seen - set(samples.class_names)
    )


def _per_class(samples: Samples, options: Options) -> list[Metric]:
    from sklearn.metrics import precision_recall_fscore_support

    classes = _present(samples)
    precision, recall, f1, support = precision_recall_fscore_support(
        samples.labels, samples.predictions, labels=classes, zero_division=0
    )
    labels, predictions = np.array(samples.labels), np.array(samples.predictions)
    metrics: list[Metric] = []
    for i, name in enumerate(classes):
        hits = int(((labels == name) & (predictions == name)).sum())
        predicted, actual = int((predictions == name).sum()), int(support[i])
        metrics += [
            Metric(
                "precision", float(precision[i]), predicted, name, ci=_ci(hits, predicted, options)
            ),
            Metric("recall", float(recall[i]), actual, name, ci=_ci(hits, actual, options)),
            Metric("f1", float(f1[i]), actual, name),
        ]
    return metrics


def _ci(hits: int, n: int, options: Options) -> tuple[float, float] | None:
    return wilson(hits, n, options.confidence) if n else None


def _regression(samples: Samples, options: Options) -> list[Metric]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    assert samples.targets is not None and samples.values is not None
    n = len(samples)
    errors = np.abs(samples.values - samples.targets)
    mae = float(mean_absolute_error(samples.targets, samples.values))
    spread = float(errors.std(ddof=1)) if n > 1 else 0.0
    z = _z(options.confidence)
    half = z * spread / math.sqrt(n)
    metrics = [
        Metric("mae", mae, n, ci=(mae - half, mae + half)),
        Metric("rmse", math.sqrt(float(mean_squared_error(samples.targets, samples.values))), n),
    ]
    if n > 1 and float(np.var(samples.targets)) > 0:
        metrics.append(Metric("r2", float(r2_score(samples.targets, samples.values)), n))
    return metrics


def wilson(hits: int, n: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion: sound at 0 and 1 and for small n."""
    z = _z(confidence)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _correct(samples: Samples) -> np.ndarray:
    return np.asarray(np.array(samples.labels) == np.array(samples.predictions), dtype=bool)


def _confidences(samples: Samples) -> np.ndarray | None:
    """Each sample's probability of its predicted class (the largest, for a prediction that
    is not a class name)."""
    if samples.probabilities is None:
        return None
    index = {name: i for i, name in enumerate(samples.class_names)}
    rows = samples.probabilities
    return np.array(
        [
            rows[i, index[p]] if p in index else rows[i].max()
            for i, p in enumerate(samples.predictions)
        ]
    )


def calibration_bins(confidences: np.ndarray, correct: np.ndarray, bins: int) -> list[Bin]:
    """The reliability diagram: one entry per non-empty equal-width bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.ceil(confidences * bins).astype(int) - 1, 0, bins - 1)
    found = []
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        if count:
            found.append(
                Bin(
                    b,
                    float(edges[b]),
                    float(edges[b + 1]),
                    float(confidences[inside].mean()),
                    float(correct[inside].mean()),
                    count,
                )
            )
    return found


def expected_calibration_error(bins: Iterable[Bin], n: int) -> float:
    return float(sum(b.count / n * abs(b.accuracy - b.confidence) for b in bins))


def max_calibration_error(bins: Iterable[Bin]) -> float:
    return float(max((abs(b.accuracy - b.confidence) for b in bins), default=0.0))


def brier_score(samples: Samples) -> float:
    assert samples.probabilities is not None
    index = {name: i for i, name in enumerate(samples.class_names)}
    onehot = np.zeros_like(samples.probabilities)
    for row, label in enumerate(samples.labels):
        if label in index:
            onehot[row, index[label]] = 1.0
    return float(((samples.probabilities - onehot) ** 2).sum(axis=1).mean())


def confusion_cells(samples: Samples) -> list[tuple[str, str, int]]:
    """(label, prediction, count) of every non-empty cell of the confusion matrix."""
    from sklearn.metrics import confusion_matrix

    classes = _present(samples)
    matrix = confusion_matrix(samples.labels, samples.predictions, labels=classes)
    return [
        (classes[i], classes[j], int(matrix[i, j]))
        for i, j in zip(*np.nonzero(matrix), strict=True)
    ]


def majority_baseline(samples: Samples, fit_on: Samples | None = None) -> Samples:
    """The zero rule: always the most frequent class of ``fit_on`` (the train split's
    labels when logged), with all its probability; for regression, its mean target."""
    source = fit_on if fit_on is not None and len(fit_on) else samples
    n = len(samples)
    if samples.task == "regression":
        from sklearn.dummy import DummyRegressor

        assert source.targets is not None
        regressor = DummyRegressor(strategy="mean").fit(np.zeros((len(source), 1)), source.targets)
        return _predicting(samples, values=regressor.predict(np.zeros((n, 1))))
    from sklearn.dummy import DummyClassifier

    classifier = DummyClassifier(strategy="most_frequent")
    classifier.fit(np.zeros((len(source), 1)), source.labels)
    return _classified(samples, classifier, n)


def random_baseline(samples: Samples, fit_on: Samples | None = None) -> Samples:
    """Guessing: a class drawn uniformly with probability 1/classes each (seeded); for
    regression, a target drawn from ``fit_on``'s targets."""
    n = len(samples)
    if samples.task == "regression":
        source = fit_on if fit_on is not None and len(fit_on) else samples
        assert source.targets is not None
        draws = np.random.default_rng(RANDOM_SEED).choice(source.targets, size=n)
        return _predicting(samples, values=draws)
    from sklearn.dummy import DummyClassifier

    classifier = DummyClassifier(strategy="uniform", random_state=RANDOM_SEED)
    classifier.fit(np.zeros((len(samples.class_names), 1)), samples.class_names)
    return _classified(samples, classifier, n)


def _classified(samples: Samples, classifier: Any, n: int) -> Samples:
    features = np.zeros((n, 1))
    predictions = [str(p) for p in classifier.predict(features)]
    fitted = [str(c) for c in classifier.classes_]
    probabilities = np.zeros((n, len(samples.class_names)))
    index = {name: i for i, name in enumerate(samples.class_names)}
    given = classifier.predict_proba(features)
    for column, name in enumerate(fitted):
        if name in index:
            probabilities[:, index[name]] = given[:, column]
    has_probabilities = samples.probabilities is not None
    return replace(
        samples,
        predictions=predictions,
        probabilities=probabilities if has_probabilities else None,
    )


def _predicting(samples: Samples, values: np.ndarray) -> Samples:
    return replace(
        samples, predictions=[repr(float(v)) for v in values], values=np.asarray(values, float)
    )


def lifts(run: Sequence[Metric], baseline: Sequence[Metric]) -> dict[tuple[str, ...], float]:
    """The run's value minus the baseline's, for each number both have."""
    theirs = {m.key: m.value for m in baseline}
    return {m.key: m.value - theirs[m.key] for m in run if m.key in theirs}
