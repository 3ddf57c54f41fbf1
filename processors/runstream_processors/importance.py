"""Parameter importance over a group of runs (a sweep): which params move the objective.

Model-free and cheap, so it needs nothing beyond numpy: a numeric param scores the absolute
Spearman rank correlation of its values with the objective (the sign, kept apart, says
the direction), a text or boolean param the correlation ratio (eta: the share of the
objective's spread its values explain, 0 to 1). Only runs that have both a value of the
param and of the objective count; params with one value only, or fewer than 3 runs,
score nothing. Keys the SDK or a sweep adds (``runstream.*``, ``sweep.*``, ``optuna.*``)
are no hyperparameters and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

NOT_HYPERPARAMETERS = ("runstream.", "sweep.", "optuna.")
MIN_RUNS = 3


@dataclass(frozen=True)
class Importance:
    param: str
    kind: str
    """``numeric`` (Spearman) or ``categorical`` (eta)."""
    score: float
    correlation: float | None
    """Spearman's rho with its sign, numeric params only."""
    runs: int


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as Spearman's rho needs)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    _, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    counts = np.bincount(inverse)
    return np.asarray((sums / counts)[inverse], dtype=np.float64)


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def eta(labels: list[str], y: np.ndarray) -> float | None:
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return None
    _, inverse = np.unique(np.array(labels, dtype=object).astype(str), return_inverse=True)
    counts = np.bincount(inverse)
    means = np.bincount(inverse, weights=y) / counts
    between = float((counts * (means - y.mean()) ** 2).sum())
    return float(np.sqrt(between / total))


def importances(
    objective: Mapping[str, float],
    params: Mapping[str, Mapping[str, tuple[str, str]]],
) -> list[Importance]:
    """Scores, highest first. ``objective``: run id → value; ``params``: key → run id →
    (value type, value as text), as ``runstream.params`` holds them."""
    found: list[Importance] = []
    for key, by_run in params.items():
        if key.startswith(NOT_HYPERPARAMETERS):
            continue
        runs = [run for run in by_run if run in objective and np.isfinite(objective[run])]
        if len(runs) < MIN_RUNS or len({by_run[run][1] for run in runs}) < 2:
            continue
        y = np.array([objective[run] for run in runs], dtype=np.float64)
        types = {by_run[run][0] for run in runs}
        if types <= {"number", "integer"}:
            x = np.array([float(by_run[run][1]) for run in runs], dtype=np.float64)
            rho = spearman(x, y)
            if rho is not None:
                found.append(Importance(key, "numeric", abs(rho), rho, len(runs)))
        else:
            score = eta([by_run[run][1] for run in runs], y)
            if score is not None:
                found.append(Importance(key, "categorical", score, None, len(runs)))
    return sorted(found, key=lambda item: (-item.score, item.param))
