"""The alert rules: each one small, each a pure function of a series' state and a point.

A metric rule sees a series' points in step order, once each (the detector skips points at
or before the newest step it remembers), and fires at most once per series. Alert ids are
derived from what was found, never from when: replays and re-detection write the same id.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

LOSS_LIKE = re.compile(r"(?i)(loss|err|error|mse|mae|rmse|perplexity|ppl)")
"""Metric keys where larger is worse: the divergence rule watches these."""

SEVERITY_OF_STATUS = {"finished": "info", "killed": "warning", "failed": "critical"}


@dataclass(frozen=True)
class Alert:
    project: str
    run_id: str
    rule: str
    severity: str
    """``info`` (a run finished), ``warning`` or ``critical``."""
    metric: str
    """``split.key`` (or ``key``) for metric rules, '' for run rules."""
    step: int
    value: float
    message: str

    @property
    def alert_id(self) -> str:
        """The same for the same finding, however often it is detected."""
        identity = "\0".join([self.project, self.run_id, self.rule, self.metric, str(self.step)])
        return hashlib.sha256(identity.encode()).hexdigest()[:32]


@dataclass
class SeriesState:
    """What the metric rules remember of one (run, key, split) between batches."""

    project: str
    run_id: str
    key: str
    split: str
    last_step: int = -(2**63)
    points: int = 0
    first_value: float = math.nan
    running_min: float = math.inf
    previous: float = math.nan
    streak: int = 0
    streak_step: int = 0
    fired: set[str] = field(default_factory=set)

    @property
    def metric(self) -> str:
        return f"{self.split}.{self.key}" if self.split else self.key

    def alert(self, rule: str, severity: str, step: int, value: float, message: str) -> Alert:
        self.fired.add(rule)
        return Alert(self.project, self.run_id, rule, severity, self.metric, step, value, message)

    def advance(self, step: int, value: float) -> None:
        """Take the point into the running statistics (after every rule saw it)."""
        self.last_step = step
        self.points += 1
        if math.isfinite(value):
            if math.isnan(self.first_value):
                self.first_value = value
            self.running_min = min(self.running_min, value)
            self.previous = value

    def advance_many(self, steps: np.ndarray, values: np.ndarray) -> None:
        """:meth:`advance` for each point, at once."""
        self.last_step = int(steps[-1])
        self.points += len(values)
        finite = values[np.isfinite(values)]
        if finite.size:
            if math.isnan(self.first_value):
                self.first_value = float(finite[0])
            self.running_min = min(self.running_min, float(finite.min()))
            self.previous = float(finite[-1])


class MetricRule(Protocol):
    name: str
    every_point: bool
    """Whether the rule needs every point of the keys it applies to, or only non-finite ones."""

    def applies(self, key: str) -> bool: ...

    def observe(self, state: SeriesState, step: int, value: float) -> Alert | None: ...

    def skip(self, state: SeriesState, values: np.ndarray) -> bool:
        """Whether :meth:`observe` would find nothing in ``values`` (in order, all after
        ``state``); then the rule's own state is moved past them. False changes nothing:
        the points are then observed one by one. The fast path of healthy batches."""
        ...


class NonFinite:
    """A NaN or an infinity in any metric: the first one of each series."""

    name = "nonfinite"
    every_point = False

    def applies(self, key: str) -> bool:
        return True

    def observe(self, state: SeriesState, step: int, value: float) -> Alert | None:
        if math.isfinite(value) or self.name in state.fired:
            return None
        return state.alert(
            self.name, "critical", step, value, f"{state.metric} is {value} at step {step}"
        )

    def skip(self, state: SeriesState, values: np.ndarray) -> bool:
        return self.name in state.fired or bool(np.isfinite(values).all())


@dataclass
class Divergence:
    """A loss-like metric far above its running minimum for several points, or jumping.

    Fires when the value exceeds ``factor`` × its running minimum (a positive one) for
    ``points`` consecutive points, or exceeds ``jump`` × the previous point at once; in
    both cases only while it is also above its first value, so a loss that fell a long
    way and wobbles near zero is not called diverging.
    """

    factor: float = 10.0
    points: int = 3
    jump: float = 1000.0
    name: str = "divergence"
    every_point: bool = True

    def applies(self, key: str) -> bool:
        return LOSS_LIKE.search(key) is not None

    def observe(self, state: SeriesState, step: int, value: float) -> Alert | None:
        if not math.isfinite(value) or self.name in state.fired or state.points == 0:
            return None
        worse = value > state.first_value
        above = worse and state.running_min > 0 and value > self.factor * state.running_min
        if not above:
            state.streak = 0
        else:
            if state.streak == 0:
                state.streak_step = step
            state.streak += 1
            if state.streak >= self.points:
                return state.alert(
                    self.name,
                    "critical",
                    state.streak_step,
                    value,
                    f"{state.metric} diverged: {value:.4g} at step {step}, above "
                    f"{self.factor:g}x its minimum {state.running_min:.4g} for "
                    f"{state.streak} points since step {state.streak_step}",
                )
        previous = state.previous
        if worse and previous > 0 and value > self.jump * previous:
            return state.alert(
                self.name,
                "critical",
                step,
                value,
                f"{state.metric} diverged: {value:.4g} at step {step}, "
                f"{value / previous:.3g}x the previous point",
            )
        return None

    def skip(self, state: SeriesState, values: np.ndarray) -> bool:
        if self.name in state.fired:
            return True
        if not np.isfinite(values).all():
            return False
        first = state.first_value if not math.isnan(state.first_value) else values[0]
        before = np.concatenate([[state.running_min], values])
        minimum = np.minimum.accumulate(before)[:-1]  # the running minimum before each point
        previous = np.concatenate([[state.previous], values])[:-1]
        worse = values > first
        with np.errstate(invalid="ignore", over="ignore"):
            above = worse & (minimum > 0) & (values > self.factor * minimum)
            jumped = worse & (previous > 0) & (values > self.jump * previous)
        if above.any() or jumped.any():
            return False
        state.streak = 0
        return True


METRIC_RULES: tuple[MetricRule, ...] = (NonFinite(), Divergence())


def finish_alert(project: str, run_id: str, status: str) -> Alert:
    """A run ended (its RunFinished): ``finished`` is info, ``killed`` a warning, ``failed``
    critical."""
    severity = SEVERITY_OF_STATUS.get(status, "warning")
    return Alert(project, run_id, "finished", severity, "", 0, 0.0, f"run {status}")


def status_alert(
    project: str, run_id: str, status: str, since_ms: int, stalled_for_s: float
) -> Alert:
    """A run the ``runs`` view calls ``stalled`` (heartbeats, no log()) or ``crashed``.

    ``since_ms`` is the time the condition counts from (the newest log() for a stall): a
    run that stalls twice raises two alerts, a run seen stalled twice in one stall one.
    """
    if status == "crashed":
        message = "run crashed: its heartbeats stopped without a RunFinished"
        return Alert(project, run_id, "crashed", "critical", "", 0, 0.0, message)
    message = f"run stalled: no log() for {stalled_for_s:.0f} s while heartbeats continue"
    return Alert(project, run_id, "stalled", "warning", "", since_ms, stalled_for_s, message)
