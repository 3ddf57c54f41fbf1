"""Grafana's alert rules (deploy/grafana/provisioning/alerting): their structure, and each
rule's SQL run on a real embedded store seeded with alerts, a stalled and a crashed run."""

from __future__ import annotations

import math
import time
import uuid
from pathlib import Path
from typing import Any

import runstream
import yaml
from runstream.settings import Settings
from runstream.spool import SpoolWriter
from runstream.wire import events_pb2 as pb
from runstream_processors.alerts.status import check_statuses
from support.runs import store

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/grafana/provisioning/alerting/runstream-alerts.yaml"
DATASOURCES = ROOT / "deploy/grafana/provisioning/datasources/clickhouse.yaml"
SECOND = 1_000_000_000


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    assert document["apiVersion"] == 1
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_rule_is_complete_and_queries_the_provisioned_datasource() -> None:
    document = yaml.safe_load(RULES.read_text())
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    for group in document["groups"]:
        assert {"orgId", "name", "folder", "interval", "rules"} <= set(group)
    rules = _rules()
    assert len({rule["uid"] for rule in rules}) == len(rules) >= 3
    for rule in rules:
        assert {"uid", "title", "condition", "data", "noDataState", "execErrState", "for"} <= set(
            rule
        )
        refs = {query["refId"]: query for query in rule["data"]}
        assert rule["condition"] in refs
        for query in rule["data"]:
            assert query["model"]["refId"] == query["refId"]
            assert query["datasourceUid"] in (uid, "__expr__")
            if query["datasourceUid"] == "__expr__":
                assert query["model"]["expression"] in refs
            else:
                assert query["model"]["editorType"] == "sql" and query["model"]["rawSql"]
        assert rule["noDataState"] == "OK", "no rows means nothing is wrong"


def _seed(settings: Settings) -> dict[str, str]:
    """A run with divergence and NaN; runs beating every 30 s: one that stopped logging 2000 s
    ago (stalled: > 30 beats), one whose beats stopped 200 s ago (crashed: > 3 beats + 1 s).
    Long intervals: a slow machine's ingest must not make the stalled run look crashed."""
    with runstream.init(project="grafana", name="diverged", system_interval=None) as run:
        for step in range(10):
            run.log({"loss": 1.0 if step < 5 else 1e39, "acc": math.nan if step == 7 else 0.5})
        diverged = run.id
    runs = {"diverged": diverged}
    payloads = []
    for name, beat_at_s, last_log_s in (("hung", -0.1, -2000.0), ("dead", -200.0, -200.0)):
        run_id = runs[name] = uuid.uuid4().hex
        now = time.time_ns()
        beat = pb.Heartbeat(
            interval_ms=30_000, last_log_unix_nano=now + int(last_log_s * SECOND), log_calls=100
        )
        for seq, (at_s, payload) in enumerate(
            [
                (-3000.0, {"run_started": pb.RunStarted(name=name, heartbeat_interval_ms=30_000)}),
                (beat_at_s, {"heartbeat": beat}),
            ],
            start=1,
        ):
            envelope = pb.Envelope(
                event_id=uuid.uuid4().hex,
                project="grafana",
                run_id=run_id,
                seq=seq,
                time_unix_nano=now + int(at_s * SECOND),
                **payload,  # type: ignore[arg-type]
            )
            payloads.append(envelope.SerializeToString())
    writer = SpoolWriter(settings.local_spool_dir)
    writer.append(payloads)
    writer.close()
    return runs


def test_each_rule_query_runs_and_finds_the_seeded_runs(runstream_dir: Settings) -> None:
    runs = _seed(runstream_dir)
    by_uid = {rule["uid"]: rule for rule in _rules()}
    found: dict[str, set[tuple[str, ...]]] = {}
    with store(runstream_dir) as client:
        check_statuses(client, "spool")
        for uid, rule in by_uid.items():
            for query in rule["data"]:
                if query["datasourceUid"] == "__expr__":
                    continue
                result = client.query(query["model"]["rawSql"])
                for row in result.result_rows:
                    *labels, value = row
                    assert all(isinstance(label, str) for label in labels), "labels are text"
                    assert isinstance(value, int | float) and value > 0, "one number to compare"
                found[uid] = {tuple(row[:-1]) for row in result.result_rows}
    ids = {value: key for key, value in runs.items()}
    assert {(ids[r[1]], r[2]) for r in found["runstream-critical-alerts"]} == {
        ("diverged", "divergence"),
        ("diverged", "nonfinite"),
        ("dead", "crashed"),
    }
    assert {(ids[r[1]], r[2]) for r in found["runstream-warning-alerts"]} == {("hung", "stalled")}
    assert {(r[2], r[3]) for r in found["runstream-runs-not-running"]} == {
        ("hung", "stalled"),
        ("dead", "crashed"),
    }
