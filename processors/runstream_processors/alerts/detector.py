"""Run the alert rules over what the ingest core stores, and over the runs' statuses.

The metric rules keep a state per (run, key, split) in memory and in ``alert_state``, so
a new process (each CLI call ingests) picks up where the last left off; points at or
before a series' newest remembered step are skipped, so a replayed batch finds nothing
new. Only points that can matter are looked at in Python: those of loss-like keys and
the non-finite ones (a numpy mask over the batch). Detection never fails ingest: an error
is logged (the first one as a warning) and the batch's alerts are lost, nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb

from . import store
from .rules import METRIC_RULES, Alert, MetricRule, SeriesState, finish_alert
from .status import check_statuses
from .webhook import Notifier, notifier_for

logger = logging.getLogger("runstream.alerts")

_STATUS_NAMES = {
    pb.RUN_STATUS_FINISHED: "finished",
    pb.RUN_STATUS_FAILED: "failed",
    pb.RUN_STATUS_KILLED: "killed",
}
RunKey = tuple[str, str]


class AlertDetector:
    """Finds, stores and posts alerts for one consumer (not thread-safe, like the sink)."""

    def __init__(
        self,
        client: Any,
        source: str,
        notifier: Notifier | None = None,
        rules: Sequence[MetricRule] = METRIC_RULES,
    ) -> None:
        self._client = client
        self._source = source
        self._notifier = notifier
        self._rules = tuple(rules)
        self._runs: dict[RunKey, dict[tuple[str, str], SeriesState]] = {}
        self._warned = False

    @classmethod
    def for_client(
        cls, client: Any, source: str, settings: Settings | None = None
    ) -> AlertDetector:
        """A detector posting to the webhook the settings name (if any)."""
        return cls(client, source, notifier_for(settings))

    def observe(self, envelopes: Iterable[pb.Envelope]) -> list[Alert]:
        """Run the rules over stored events; store and post the new alerts; never raises."""
        try:
            found: list[Alert] = []
            touched: dict[int, SeriesState] = {}
            ended: list[RunKey] = []
            for envelope in envelopes:
                kind = envelope.WhichOneof("payload")
                if kind == "metrics":
                    found.extend(self._metrics(envelope, touched))
                elif kind == "run_finished":
                    status = _STATUS_NAMES.get(envelope.run_finished.status, "finished")
                    found.append(finish_alert(envelope.project, envelope.run_id, status))
                    ended.append((envelope.project, envelope.run_id))
            store.write_states(self._client, touched.values())
            for run in ended:  # a long-lived worker keeps only the runs still going
                self._runs.pop(run, None)
            return self.record(found)
        except Exception:
            self._failed()
            return []

    def check_statuses(self) -> list[Alert]:
        """Alerts for runs the ``runs`` view calls stalled or crashed now; never raises."""
        return check_statuses(self._client, self._source, self._notifier)

    def record(self, alerts: Sequence[Alert]) -> list[Alert]:
        return store.record(self._client, alerts, self._source, self._notifier)

    def _metrics(self, envelope: pb.Envelope, touched: dict[int, SeriesState]) -> list[Alert]:
        batch = envelope.metrics
        values = np.frombuffer(batch.values, dtype="<f8")
        if not len(values):
            return []
        keys = list(batch.keys)
        watched = [i for i, key in enumerate(keys) if self._watched(key)]
        key_index = np.frombuffer(batch.key_index, dtype="<u4")
        mask = ~np.isfinite(values)
        if watched:
            mask |= np.isin(key_index, np.array(watched, dtype="<u4"))
        points = np.flatnonzero(mask)
        if not len(points):
            return []
        lengths = np.frombuffer(batch.row_lengths, dtype="<u4")
        steps = np.repeat(np.frombuffer(batch.steps, dtype="<i8"), lengths)
        series = self._series(envelope.project, envelope.run_id)
        found: list[Alert] = []
        for code in np.unique(key_index[points]).tolist():
            key = keys[code]
            state = series.get((key, batch.split))
            if state is None:
                state = series[key, batch.split] = SeriesState(
                    envelope.project, envelope.run_id, key, batch.split
                )
            chosen = np.flatnonzero(mask & (key_index == code))
            found.extend(self._observe_series(state, steps[chosen], values[chosen]))
            touched[id(state)] = state
        return found

    def _observe_series(
        self, state: SeriesState, steps: np.ndarray, values: np.ndarray
    ) -> list[Alert]:
        """The points of one series after the newest step it remembers, through the rules."""
        newest = np.maximum.accumulate(np.concatenate([[state.last_step], steps]))[:-1]
        new = steps > newest  # not seen before: not a replay, not a step logged twice
        steps, values = steps[new], values[new]
        if not len(steps):
            return []
        rules = [rule for rule in self._rules if rule.applies(state.key)]
        if all([rule.skip(state, values) for rule in rules]):  # every rule: no short-circuit
            state.advance_many(steps, values)
            return []
        found = []
        for step, value in zip(steps.tolist(), values.tolist(), strict=True):
            for rule in rules:
                alert = rule.observe(state, step, value)
                if alert is not None:
                    found.append(alert)
            state.advance(step, value)
        return found

    def _watched(self, key: str) -> bool:
        """Whether any rule needs every point of ``key`` (not only its non-finite ones)."""
        return any(rule.every_point and rule.applies(key) for rule in self._rules)

    def _series(self, project: str, run_id: str) -> dict[tuple[str, str], SeriesState]:
        found = self._runs.get((project, run_id))
        if found is None:
            found = self._runs[project, run_id] = store.load_states(self._client, project, run_id)
        return found

    def _failed(self) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("alert detection failed; ingest goes on", exc_info=True)
        else:
            logger.debug("alert detection failed", exc_info=True)
