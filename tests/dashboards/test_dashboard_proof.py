"""Every dashboard works, proven without a Grafana server.

Each dashboard of ``dashboards/`` is loaded; its variables are resolved in dependency
order by running their queries (a fresh dashboard's defaults: All where offered, else the
first option); every panel query is expanded as Grafana and the plugin would
(``support.grafana_queries``) and run through clickhouse-go, the plugin's driver, over
HTTP against ``runstream store serve`` as the read-only dashboard account, on seeded data
(``support.dashboard_seed``). Each result becomes the frames the panel would get (the
plugin's format rules and the panel's transformations, ``support.grafana_frames``) and
must fit the panel: a time series needs a time field, a trend panel exactly one frame
with a numeric x. This for the default selection and for 1, 2 and 20 chosen runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from runstream.settings import load_settings
from runstream_processors.ingest.spool import ingest_spool
from support.dashboard_seed import Seed, chosen_runs, fabricate_trouble, insert_rest, log_runs
from support.go_client import build_goclient
from support.grafana_frames import Field, Frame, FrameError, check_shape, result_frames, transform
from support.grafana_queries import (
    Value,
    Variable,
    dashboard_variables,
    default_selection,
    expand,
    interpolate,
    panel_queries,
)
from support.store_server import ADMIN_PASSWORD, READONLY_PASSWORD, Server, start_server

DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "dashboards").glob("*.json"))
# 1M steps as the issue asks; RUNSTREAM_PROOF_LONG_STEPS lowers it on a slow machine.
LONG_STEPS = int(os.environ.get("RUNSTREAM_PROOF_LONG_STEPS", "1000000"))


@dataclass
class Store:
    server: Server
    seed: Seed
    goclient: Path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    import clickhouse_connect

    root = tmp_path_factory.mktemp("proof") / "rs"
    seed = Seed()
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("RUNSTREAM_KAFKA_BOOTSTRAP", "RUNSTREAM_CLICKHOUSE_URL"):
            patch.delenv(variable, raising=False)
        patch.setenv("RUNSTREAM_DIR", str(root))
        log_runs(seed)
        fabricate_trouble(load_settings(root).local_spool_dir, seed)
    goclient = build_goclient()
    server = start_server(root, "--ingest-interval", "0")
    client = clickhouse_connect.get_client(
        host=server.host,
        port=server.port,
        username="default",
        password=ADMIN_PASSWORD,
        autogenerate_session_id=False,
    )
    try:
        ingest_spool(client, load_settings(root).local_spool_dir)
        insert_rest(client, seed, LONG_STEPS)
    finally:
        client.close()
    yield Store(server, seed, goclient)
    assert server.stop() == 0, server.output()


def go_queries(store: Store, texts: list[str]) -> list[dict[str, Any]]:
    """Run SQL texts through clickhouse-go's database/sql as the dashboard account."""
    path = store.server.root.with_name(f"queries-{os.getpid()}.json")
    path.write_text(json.dumps(texts))
    done = subprocess.run(
        [
            str(store.goclient),
            "-addr",
            f"{store.server.host}:{store.server.port}",
            "-user",
            "readonly",
            "-password",
            READONLY_PASSWORD,
            "-queries",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    for text, result in zip(texts, results, strict=True):
        assert "error" not in result, f"{result['error']}\n--- query ---\n{text}"
    return results


def resolve(
    store: Store, document: Mapping[str, Any], pinned: Mapping[str, Value]
) -> tuple[dict[str, Variable], dict[str, Value]]:
    variables = dashboard_variables(document)
    by_name = {v.name: v for v in variables}
    selected: dict[str, Value] = {}
    for variable in variables:
        if variable.type == "datasource":
            variable.options = [("runstream-clickhouse", "runstream")]
        elif variable.type == "query":
            (result,) = go_queries(store, [expand(variable.query, by_name, selected)])
            variable.options = [(str(row[0]), str(row[-1])) for row in result["values"] or []]
        selected[variable.name] = pinned.get(variable.name, default_selection(variable))
    return by_name, selected


@dataclass
class Drawn:
    panel: Mapping[str, Any]
    frames: list[Frame]
    values: list[list[Any]]
    columns: list[str]


def draw(
    store: Store, path: Path, pinned: Mapping[str, Value]
) -> tuple[dict[str, Value], dict[int, Drawn]]:
    """Every panel of a dashboard as it would be drawn; fails where one could not be."""
    document = json.loads(path.read_text())
    by_name, selected = resolve(store, document, pinned)
    panels = list(panel_queries(document))
    results = go_queries(store, [expand(sql, by_name, selected) for _, sql in panels])
    drawn: dict[int, Drawn] = {}
    values = {name: by_name[name].value_of(value) for name, value in selected.items()}
    for (panel, _), result in zip(panels, results, strict=True):
        target = panel["targets"][0]
        rows = result["values"] or []
        try:
            frames = transform(
                result_frames(result["columns"] or [], rows, target["format"]),
                panel.get("transformations", []),
            )
            check_shape(panel, frames)
        except FrameError as error:
            pytest.fail(f"{path.name} · {panel['title']} with {values}: {error}")
        drawn[panel["id"]] = Drawn(
            panel, frames, rows, [c["name"] for c in result["columns"] or []]
        )
    return values, drawn


def series_runs(drawn: Drawn, seed: Seed) -> set[str]:
    """Which runs a trend panel's frame draws (its value fields' series labels)."""
    (frame,) = drawn.frames
    labels = {f.labels.get("series", "") for f in frame.fields if f.name == "value"}
    return {run for run in seed.runs for label in labels if run[:8] in label}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_draws_with_the_default_selection(store: Store, path: Path) -> None:
    _values, drawn = draw(store, path, {})
    assert drawn, f"{path.name} has no panels"
    has_data = [d.panel["title"] for d in drawn.values() if d.values]
    assert has_data, f"{path.name}: no panel shows anything on the seeded data"


def test_overview_lists_every_run_and_the_trouble(store: Store) -> None:
    _values, drawn = draw(store, _path("runs-overview"), {"metric": ["train.loss"]})
    assert {row[1] for row in drawn[1].values} == set(store.seed.runs)
    trouble = {row[1]: row[3] for row in drawn[3].values}
    assert trouble.get(store.seed.crashed) == "crashed"
    assert trouble.get(store.seed.stalled) == "stalled"
    assert drawn[6].values, "the stand-in alerts are shown"
    leaders = {(row[0], row[1]) for row in drawn[2].values}
    assert ("train.loss", "sweep-a") in leaders


def test_comparison_defaults_to_the_top_five(store: Store) -> None:
    values, drawn = draw(store, _path("run-comparison"), {"metric": "train.loss"})
    assert len(values["run"]) == 1 and len(str(values["run"][0]).split(",")) == 5
    assert len(series_runs(drawn[1], store.seed)) == 5


@pytest.mark.parametrize("count", [1, 2, 20])
@pytest.mark.parametrize("x", ["step", "seconds"])
def test_comparison_overlays_the_chosen_runs_in_one_frame(store: Store, count: int, x: str) -> None:
    document = json.loads(_path("run-comparison").read_text())
    by_name, _ = resolve(store, document, {"metric": "train.loss"})
    runs = list(chosen_runs(by_name["run"].options, count, first=store.seed.long_run))
    assert len(runs) == count
    _, drawn = draw(
        store,
        _path("run-comparison"),
        {"metric": "train.loss", "run": runs, "x": x, "smoothing": "5"},
    )
    assert series_runs(drawn[1], store.seed) == set(runs)
    (frame,) = drawn[1].frames
    assert frame.length <= 1000 * count * 2 + 10, "curves come bucketed (metric_curve)"
    if store.seed.long_run in runs:
        x_field = frame.named("x")
        assert x_field is not None and max(x_field.values) > store.seed.long_steps * (
            0.9 if x == "step" else 0
        )
    finals = {(row[0], row[2]) for row in drawn[3].values}
    assert {run for _, run in finals} == set(runs)


@pytest.mark.parametrize("count", [1, 2, 20])
def test_system_panels_for_chosen_runs(store: Store, count: int) -> None:
    document = json.loads(_path("system").read_text())
    by_name, _ = resolve(store, document, {})
    options = [(v, t) for v, t in by_name["run"].options if v in store.seed.with_system]
    options += [(v, t) for v, t in by_name["run"].options if v not in store.seed.with_system]
    runs = [v for v, _ in options[:count]]
    _, drawn = draw(store, _path("system"), {"run": runs})
    summary_runs = {row[1] for row in drawn[6].values}
    assert summary_runs == set(runs) & set(store.seed.with_system)
    for panel_id in range(1, 6):
        for frame in drawn[panel_id].frames:
            assert len(frame.fields) == 1 or frame.fields[0].type == "time"


@pytest.mark.parametrize("which", ["long", "crashed", "first"])
def test_run_detail_of_one_run(store: Store, which: str) -> None:
    run = {
        "long": store.seed.long_run,
        "crashed": store.seed.crashed,
        "first": sorted(store.seed.runs)[0],
    }[which]
    _, project = store.seed.runs[run]
    _, drawn = draw(store, _path("run-detail"), {"project": project, "run": run})
    assert [row[2] for row in drawn[1].values] == [run]
    if which == "long":
        metrics = {row[0]: row for row in drawn[3].values}
        assert metrics["train.loss"][1] == store.seed.long_steps
        assert drawn[9].values, "throughput of the long run"


def test_parameters_draw_parallel_coordinates_in_one_frame(store: Store) -> None:
    _values, drawn = draw(store, _path("parameters"), {"metric": "train.loss"})
    (_frame,) = drawn[3].frames
    axes = {row[1] for row in drawn[4].values}
    assert {"lr", "dropout", "batch_size", "train.loss"} <= axes
    assert drawn[1].values and drawn[2].values and drawn[5].values


def test_a_frame_the_trend_panel_cannot_draw_is_caught() -> None:
    """The shape check is not vacuous: the curve rows without the transformations fail it."""
    panel = {"type": "trend", "title": "t", "options": {"xField": "x"}}
    columns = [
        {"name": "series", "type": "String"},
        {"name": "x", "type": "Float64"},
        {"name": "value", "type": "Float64"},
    ]
    rows = [["a", 1.0, 1.0], ["a", 2.0, 2.0], ["b", 1.0, 3.0]]
    split = transform(
        result_frames(columns, rows, 1),
        [{"id": "partitionByValues", "options": {"fields": ["series"]}}],
    )
    with pytest.raises(FrameError):
        check_shape(panel, split)
    joined = transform(split, [{"id": "joinByField", "options": {"byField": "x", "mode": "outer"}}])
    check_shape(panel, joined)
    assert [f.values for f in joined[0].fields] == [[1.0, 2.0], [1.0, 2.0], [3.0, None]]
    with pytest.raises(FrameError):
        result_frames(columns, rows, 0)  # a time series without a time column


def _path(name: str) -> Path:
    return next(p for p in DASHBOARDS if p.stem == name)


# -- the same through a real Grafana with the plugin, where a Docker engine answers -------

GRAFANA_IMAGE = "grafana/grafana:12.3.0"  # docker-compose.yml's


def _grafana_frames(answer: Mapping[str, Any]) -> list[Frame]:
    """/api/ds/query's data frames (JSON: schema.fields and data.values) in the model's terms."""
    frames = []
    for frame in answer.get("frames", []):
        fields = frame["schema"]["fields"]
        columns = frame.get("data", {}).get("values", [[] for _ in fields])
        frames.append(
            Frame(
                [
                    Field(f["name"], f.get("type", "other"), list(v), f.get("labels") or {})
                    for f, v in zip(fields, columns, strict=True)
                ]
            )
        )
    return frames


@pytest.mark.docker
def test_every_panel_through_grafana_and_the_plugin(store: Store, tmp_path: Path) -> None:
    """Each panel's query sent by a real Grafana 12.3 with plugin 4.20.0 (/api/ds/query)."""
    from real_services import docker_available

    if not docker_available():
        pytest.skip("no Docker engine answers: the Grafana variant needs one")
    import urllib.request

    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    provisioning = tmp_path / "datasources"
    provisioning.mkdir()
    (provisioning / "ds.yaml").write_text(
        json.dumps(
            {
                "apiVersion": 1,
                "datasources": [
                    {
                        "name": "runstream",
                        "uid": "runstream-clickhouse",
                        "type": "grafana-clickhouse-datasource",
                        "jsonData": {
                            "host": store.server.host,
                            "port": store.server.port,
                            "protocol": "http",
                            "username": "readonly",
                            "defaultDatabase": "runstream",
                        },
                        "secureJsonData": {"password": READONLY_PASSWORD},
                    }
                ],
            }
        )
    )
    grafana = (
        DockerContainer(GRAFANA_IMAGE)
        .with_env("GF_PLUGINS_PREINSTALL_SYNC", "grafana-clickhouse-datasource@4.20.0")
        .with_env("GF_SECURITY_ADMIN_PASSWORD", "proof")
        .with_volume_mapping(str(provisioning), "/etc/grafana/provisioning/datasources", "ro")
        .with_kwargs(network_mode="host")  # the store server listens on the host's loopback
    )
    with grafana:
        wait_for_logs(grafana, "HTTP Server Listen", timeout=180)
        for path in DASHBOARDS:
            document = json.loads(path.read_text())
            by_name, selected = resolve(store, document, {})
            for panel, sql in panel_queries(document):
                target = panel["targets"][0]
                body = {
                    "from": "now-30d",
                    "to": "now",
                    "queries": [
                        {
                            **target,
                            "datasource": {"uid": "runstream-clickhouse"},
                            "rawSql": interpolate(sql, by_name, selected),
                        }
                    ],
                }
                request = urllib.request.Request(
                    "http://127.0.0.1:3000/api/ds/query",
                    data=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"},
                    method="POST",
                )
                request.add_unredirected_header("Authorization", "Basic YWRtaW46cHJvb2Y=")
                with urllib.request.urlopen(request, timeout=60) as answer:
                    result = json.load(answer)["results"]["A"]
                assert "error" not in result, f"{path.name} · {panel['title']}: {result['error']}"
                frames = transform(_grafana_frames(result), panel.get("transformations", []))
                check_shape(panel, frames)
