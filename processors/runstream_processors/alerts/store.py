"""Alerts and detector state in the store: read and written through a clickhouse-connect client.

Writes are small (alerts are rare; one state row per loss-like series and batch), so the
client's own insert does; ids already stored are left out, so only new alerts are notified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .rules import Alert, SeriesState

if TYPE_CHECKING:
    from .webhook import Notifier

ALERT_COLUMNS = (
    "alert_id",
    "project",
    "run_id",
    "rule",
    "severity",
    "metric",
    "step",
    "value",
    "message",
    "source",
)
STATE_COLUMNS = (
    "project",
    "run_id",
    "key",
    "split",
    "last_step",
    "points",
    "first_value",
    "running_min",
    "previous",
    "streak",
    "streak_step",
    "fired",
)


def record(
    client: Any, alerts: Sequence[Alert], source: str, notifier: Notifier | None
) -> list[Alert]:
    """Store the alerts the store does not hold yet and post them; returns those."""
    fresh = new_alerts(client, alerts)
    write_alerts(client, fresh, source)
    if fresh and notifier is not None:
        notifier.notify(fresh)
    return fresh


def new_alerts(client: Any, alerts: Sequence[Alert]) -> list[Alert]:
    """``alerts`` whose id the store does not hold yet, each once."""
    unique = list({alert.alert_id: alert for alert in alerts}.values())
    if not unique:
        return []
    rows = client.query(
        "SELECT DISTINCT alert_id FROM runstream.alerts WHERE alert_id IN {ids:Array(String)}",
        parameters={"ids": [alert.alert_id for alert in unique]},
    ).result_rows
    stored = {row[0] for row in rows}
    return [alert for alert in unique if alert.alert_id not in stored]


def write_alerts(client: Any, alerts: Sequence[Alert], source: str) -> None:
    if not alerts:
        return
    rows = [
        [
            alert.alert_id,
            alert.project,
            alert.run_id,
            alert.rule,
            alert.severity,
            alert.metric,
            alert.step,
            alert.value,
            alert.message,
            source,
        ]
        for alert in alerts
    ]
    client.insert("runstream.alerts", rows, column_names=list(ALERT_COLUMNS))


def load_states(client: Any, project: str, run_id: str) -> dict[tuple[str, str], SeriesState]:
    """The remembered series of one run, by (key, split)."""
    rows = client.query(
        f"SELECT {', '.join(STATE_COLUMNS)} FROM runstream.alert_state FINAL "
        "WHERE project = {project:String} AND run_id = {run_id:String}",
        parameters={"project": project, "run_id": run_id},
    ).result_rows
    states = {}
    for row in rows:
        values = dict(zip(STATE_COLUMNS, row, strict=True))
        values["fired"] = set(values["fired"])
        state = SeriesState(**values)
        states[state.key, state.split] = state
    return states


def write_states(client: Any, states: Iterable[SeriesState]) -> None:
    rows = [
        [
            state.project,
            state.run_id,
            state.key,
            state.split,
            state.last_step,
            state.points,
            state.first_value,
            state.running_min,
            state.previous,
            state.streak,
            state.streak_step,
            sorted(state.fired),
        ]
        for state in states
    ]
    if rows:
        client.insert("runstream.alert_state", rows, column_names=list(STATE_COLUMNS))


def status_rows(client: Any) -> list[tuple[str, str, str, int, float]]:
    """(project, run_id, status, since_ms, stalled_for_s) of every stalled or crashed run."""
    rows = client.query(
        "SELECT project, run_id, status, "
        "toInt64(toUnixTimestamp64Milli(greatest(ifNull(last_log, start_time), start_time))), "
        "stalled_for_s FROM runstream.runs WHERE status IN ('stalled', 'crashed')"
    ).result_rows
    return [(str(p), str(r), str(s), int(ms), float(f)) for p, r, s, ms, f in rows]
