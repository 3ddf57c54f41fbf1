"""Every dashboard query is safe whatever a training job logged, and still shows its data.

A run may log any metric key, run name or tag (``runstream.limits``: no control
characters, bounded length); projects and run ids are restricted by pattern at ingest.
Hostile values of each kind are logged here, then every dashboard of ``dashboards/`` is
driven the way Grafana would drive it: its variables are resolved in dependency order
by running their queries, and every panel query is expanded (``support.grafana_queries``,
after the Grafana and plugin sources) for many selections, hostile options included, and
for values no query returned (a link may set any value), then run through
clickhouse-connect (and clickhouse-go's database/sql, the plugin's driver, where Go is
installed) against a real ``runstream store serve``, as its read-write user so that
nothing is owed to a read-only account. Each query must succeed, return what its
selection asks for (an oracle per panel), leak nothing from the host, and leave every
table as it was.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import runstream
from runstream.settings import load_settings
from runstream_processors.ingest.spool import ingest_spool
from support.go_client import build_goclient
from support.grafana_queries import (
    ALL,
    BACKEND_MACROS,
    Unsupported,
    Value,
    Variable,
    dashboard_variables,
    expand,
    panel_queries,
    referenced_names,
)
from support.store_server import ADMIN_PASSWORD, Server, start_server

DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "dashboards").glob("*.json"))
PASSWD = "file('/etc/passwd', 'LineAsString')"

HOSTILE = [
    "x' OR 1=1 OR 'a",
    "x\\",
    "\\",
    "'; DROP TABLE runstream.params; --",
    f"' OR throwIf(1, (SELECT any(line) FROM {PASSWD})) OR 'x' = '",
    # defeats ${var:singlequote}, which escapes ' but not \: '\\' closes the literal
    f"\\' OR throwIf(1, (SELECT any(line) FROM {PASSWD})) OR 1 -- ",
    "a,b}{c",
    "${project} $__timeFilter(t) [[run]] %27",
    'ü€ " ` /* -- #',
]
PROJECTS = ["tests", "other.proj-1", "0_x"]


@dataclass
class Seeded:
    server: Server
    runs: dict[str, tuple[str, str]]  # run id: (name, project)


def log_runs() -> dict[str, tuple[str, str]]:
    runs: dict[str, tuple[str, str]] = {}
    with runstream.init(
        project="tests", name="baseline", tags=["ok"], group="sweep-a", system_interval=None
    ) as r:
        for step in range(20):
            r.log({"loss": 1 / (1 + step), "accuracy": step / 20}, step=step, split="train")
        runs[r.id] = ("baseline", "tests")
    for index, hostile in enumerate(HOSTILE):
        project = PROJECTS[index % len(PROJECTS)]
        with runstream.init(
            project=project,
            name=hostile,
            tags=[hostile, "hostile"],
            group=hostile if index % 2 else "",  # groups are free text: hostile too
            config={hostile: hostile},
            system_interval=None,
        ) as r:
            for step in range(5):
                r.log({key: index * 100 + step for key in HOSTILE}, step=step)
                r.log({"loss": 1 / (1 + step)}, step=step, split="train")
                r.log({hostile: -step}, step=step, split="eval")
            runs[r.id] = (hostile, project)
    return runs


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    root = tmp_path_factory.mktemp("dashboards") / "rs"
    with pytest.MonkeyPatch.context() as patch:
        for variable in ("RUNSTREAM_KAFKA_BOOTSTRAP", "RUNSTREAM_CLICKHOUSE_URL"):
            patch.delenv(variable, raising=False)
        patch.setenv("RUNSTREAM_DIR", str(root))
        runs = log_runs()
    server = start_server(root, "--ingest-interval", "0")
    with server_client(server) as client:
        ingest_spool(client, load_settings(root).local_spool_dir)  # what the runs logged
    yield Seeded(server, runs)
    assert server.stop() == 0, server.output()


@contextlib.contextmanager
def server_client(server: Server) -> Iterator[Any]:
    import clickhouse_connect

    client = clickhouse_connect.get_client(
        host=server.host,
        port=server.port,
        username="default",
        password=ADMIN_PASSWORD,
        autogenerate_session_id=False,
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def client(seeded: Seeded) -> Iterator[Any]:
    with server_client(seeded.server) as client:
        yield client


def table_counts(client: Any) -> dict[str, int]:
    tables = client.query(
        "SELECT name FROM system.tables WHERE database = 'runstream' AND engine NOT LIKE '%View'"
    ).result_rows
    return {
        name: client.query(f"SELECT count() FROM runstream.`{name}`").result_rows[0][0]
        for (name,) in tables
    }


# -- what the store holds, read with plain queries (no dashboard SQL), for the oracles -------


@dataclass
class Truth:
    runs: dict[str, tuple[str, str]]  # id: (name, project)
    final: dict[tuple[str, str], float]  # (id, metric): last_value
    curves: set[tuple[str, str]]  # (id, metric) with finite points
    groups: dict[str, str]  # id: group, hex-encoded as the group variable's values are

    def metrics_of(self, projects: set[str]) -> set[str]:
        return {m for (run, m) in self.final if self.runs[run][1] in projects}


@pytest.fixture(scope="module")
def truth(client: Any, seeded: Seeded) -> Truth:
    runs = {
        run_id: (name, project)
        for run_id, name, project in client.query(
            "SELECT run_id, any(name), any(project) FROM runstream.runs_started GROUP BY run_id"
        ).result_rows
    }
    assert runs == seeded.runs, "the server did not take in every logged run"
    final = {
        (run_id, metric): value
        for run_id, metric, value in client.query(
            "SELECT run_id, metric, last_value FROM runstream.run_metrics"
        ).result_rows
    }
    curves = set(
        client.query(
            "SELECT DISTINCT run_id, if(split = '', key, concat(split, '.', key)) "
            "FROM runstream.metrics WHERE isFinite(value)"
        ).result_rows
    )
    assert set(HOSTILE) <= {metric for _, metric in final}
    groups = {
        run_id: group.encode().hex().upper()
        for run_id, group in client.query(
            "SELECT run_id, any(run_group) FROM runstream.runs_started GROUP BY run_id"
        ).result_rows
    }
    assert len(set(groups.values())) > 2
    return Truth(runs, final, curves, groups)


def chosen(value: Value) -> set[str]:
    """What a multi-value selection means to the dashboards' SQL (see the dashboards)."""
    joined = "{" + ",".join(value) + "}" if isinstance(value, list) else value
    return set(joined.strip("{}").split(","))


# -- driving a dashboard ----------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def run_sql(client: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    try:
        result = client.query(sql)
    except Exception as exc:  # the message is what a Grafana viewer would see
        pytest.fail(f"query failed: {exc}\n--- query ---\n{sql}")
    rows = [tuple(row) for row in result.result_rows]
    assert "root:" not in repr(rows), f"a host file leaked:\n{sql}"
    return list(result.column_names), rows


def resolve_options(client: Any, variables: list[Variable], selected: dict[str, Value]) -> None:
    """Run each query variable's query (after those it depends on) to get its options."""
    by_name = {v.name: v for v in variables}
    for variable in variables:
        if variable.type == "datasource":
            variable.options = [("runstream-clickhouse", "runstream")]
            selected.setdefault(variable.name, "runstream-clickhouse")
            continue
        if variable.type == "custom":  # its options are in the dashboard
            selected.setdefault(variable.name, variable.options[0][0])
            continue
        _, rows = run_sql(client, expand(variable.query, by_name, selected))
        variable.options = [(str(row[0]), str(row[-1])) for row in rows]  # metricFindQuery
        if variable.name not in selected:
            if variable.include_all:
                selected[variable.name] = ALL
            elif variable.multi:
                selected[variable.name] = [value for value, _ in variable.options]
            else:
                selected[variable.name] = variable.options[0][0] if variable.options else ""


FILTERS = ("tag", "group", "status", "user")


def check_panel(
    uid: str,
    panel_id: int,
    columns: list[str],
    rows: list[tuple[Any, ...]],
    values: Mapping[str, Value],
    selected: Mapping[str, Value],
    truth: Truth,
) -> None:
    """The rows a panel must show for the selection: an oracle for the panels that list runs."""
    named = [dict(zip(columns, row, strict=True)) for row in rows]
    if uid == "runstream-runs-overview" and panel_id == 1:
        projects = chosen(values["project"])
        in_projects = {run for run, (_, project) in truth.runs.items() if project in projects}
        ids = {row["run_id"] for row in named}
        assert ids <= in_projects
        unfiltered = all(selected.get(name) == ALL for name in FILTERS)
        if unfiltered and selected.get("param") == "(any)":
            assert ids == in_projects
    elif uid == "runstream-run-comparison" and panel_id in (1, 3):
        runs = {run for run in chosen(values["run"]) if run in truth.runs}
        metric = values["metric"]
        if panel_id == 1:
            drawn = {run for run in runs for row in named if run[:8] in row["series"]}
            assert len(drawn) == len({row["series"].split(" · ")[1] for row in named})
            assert {run for run in runs if (run, metric) in truth.curves} <= drawn
        else:
            expected = {(run, m) for (run, m) in truth.final if run in runs}
            assert {(row["run_id"], row["metric"]) for row in named} == expected


def check_dashboard(client: Any, truth: Truth, path: Path, pinned: dict[str, Value]) -> int:
    """Resolve the variables (``pinned`` fixes some values) and run every panel; queries run."""
    document = load(path)
    variables = dashboard_variables(document)
    by_name = {v.name: v for v in variables}
    values = dict(pinned)
    resolve_options(client, variables, values)
    resolved = {name: by_name[name].value_of(value) for name, value in values.items()}
    ran = 0
    for panel, sql in panel_queries(document):
        columns, rows = run_sql(client, expand(sql, by_name, values))
        check_panel(document["uid"], panel["id"], columns, rows, resolved, values, truth)
        ran += 1
    return ran


def expanded_queries(client: Any, path: Path, pinned: dict[str, Value]) -> list[str]:
    """Every variable and panel query of a dashboard, as the server receives it."""
    document = load(path)
    variables = dashboard_variables(document)
    by_name = {v.name: v for v in variables}
    values = dict(pinned)
    resolve_options(client, variables, values)
    texts = [expand(v.query, by_name, values) for v in variables if v.type == "query"]
    return texts + [expand(sql, by_name, values) for _, sql in panel_queries(document)]


def variable_options(client: Any, path: Path, pinned: dict[str, Value]) -> dict[str, Variable]:
    variables = dashboard_variables(load(path))
    values = dict(pinned)
    resolve_options(client, variables, values)
    return {v.name: v for v in variables}


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_variable_reaches_sql_only_percent_encoded_in_a_literal(path: Path) -> None:
    """The static half of the argument: no variable is ever spliced into SQL as text.

    ``${v:percentencode}`` yields only ``[A-Za-z0-9._~%-]`` (encodeURIComponent, then
    ``!'()*`` encoded too), which can neither end a ClickHouse string literal nor escape
    its quote; ``decodeURLComponent`` gives the value back exactly, an array as ``{a,b}``.
    """
    document = load(path)
    queries = [v.get("query") or "" for v in document["templating"]["list"]]
    queries += [sql for _, sql in panel_queries(document)]
    safe = re.compile(r"decodeURLComponent\('\$\{(\w+):percentencode\}'\)")
    for sql in queries:
        left = [name for name in referenced_names(safe.sub("", sql)) if name not in BACKEND_MACROS]
        assert not left, f"a variable outside decodeURLComponent: {sql}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_variables_list_what_was_logged(client: Any, truth: Truth, path: Path) -> None:
    variables = variable_options(client, path, {})
    uid = load(path)["uid"]
    if "project" in variables:
        assert {value for value, _ in variables["project"].options} == set(PROJECTS)
    if uid == "runstream-runs-overview":  # metric options: encoded values, the key as text
        metrics = [text for _, text in variables["metric"].options]
        assert set(metrics) == truth.metrics_of(set(PROJECTS)) and set(HOSTILE) <= set(metrics)
    if uid != "runstream-run-comparison":
        return
    for project in PROJECTS:
        for metric in sorted(truth.metrics_of({project}))[:3]:
            one = variable_options(client, path, {"project": [project], "metric": metric})
            offered = {value for value, _ in one["run"].options[1:]}  # the first: the top 5
            assert offered == {
                run
                for run, (_, p) in truth.runs.items()
                if p == project and (run, metric) in truth.final
            }
            assert set(one["run"].options[0][0].split(",")) <= offered | {""}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_option_of_every_variable_is_safe_and_shows_its_data(
    client: Any, truth: Truth, path: Path
) -> None:
    before = table_counts(client)
    variables = variable_options(client, path, {})
    ran = 0
    for project in [ALL, *([p] for p in PROJECTS)]:
        ran += check_dashboard(client, truth, path, {"project": project})
    if "run" in variables and "metric" in variables:
        # every option of each at least once (the full product is quadratic in a loaded CI):
        # each metric with all runs and with one run, the runs taken in turn
        runs = [run for run, _ in variables["run"].options]
        metrics = [metric for metric, _ in variables["metric"].options]
        for index, metric in enumerate(metrics + metrics[: max(0, len(runs) - len(metrics))]):
            ran += check_dashboard(client, truth, path, {"run": runs, "metric": metric})
            one = [runs[index % len(runs)]] if runs else []
            ran += check_dashboard(client, truth, path, {"run": one, "metric": metric})
    assert ran > 0
    assert table_counts(client) == before


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_values_no_query_returned_are_safe_too(client: Any, truth: Truth, path: Path) -> None:
    """A dashboard link may carry any value (it survives the first validation)."""
    before = table_counts(client)
    names = [v.name for v in dashboard_variables(load(path)) if v.type == "query"]
    values = [*HOSTILE, "", "{}", ",", "%", "%zz"]
    # each hostile value in each shape given to every variable at once, then each variable
    # alone with each value (rotating the shapes), so both the interplay and each one's own
    # queries are run
    for hostile in values:
        for value in ([hostile], [hostile, "tests"], hostile):
            check_dashboard(client, truth, path, dict.fromkeys(names, value))
    shapes = [lambda v: [v], lambda v: [v, "tests"], lambda v: v]
    for (index, name), hostile in itertools.product(enumerate(names), values):
        check_dashboard(client, truth, path, {name: shapes[(index + len(hostile)) % 3](hostile)})
    assert table_counts(client) == before


def test_singlequote_alone_would_not_be_safe(client: Any) -> None:
    """Why the dashboards do not rely on ``${var:singlequote}``: ``\\`` is not escaped."""
    variables = {"metric": Variable("metric", "query")}
    sql = "SELECT count() FROM runstream.run_metrics WHERE metric = ${metric:singlequote}"
    key = "\\' OR 1 = 1 -- "
    expanded = expand(sql, variables, {"metric": key})
    assert expanded.endswith("= '\\\\' OR 1 = 1 -- '")
    matched = client.query(expanded).result_rows[0][0]
    total = client.query("SELECT count() FROM runstream.run_metrics").result_rows[0][0]
    assert matched == total > 0  # the key matched every row: it was SQL, not a string
    with pytest.raises(Unsupported):
        expand("SELECT $__timeInterval(t)", variables, {})


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_clickhouse_go_gets_the_same_answers(
    client: Any, seeded: Seeded, path: Path, tmp_path: Path
) -> None:
    """The same queries through clickhouse-go's database/sql, as the plugin's backend sends them."""
    binary = build_goclient()
    names = [v.name for v in dashboard_variables(load(path)) if v.type == "query"]
    texts: list[str] = []
    for metric in [*HOSTILE, "train.loss"]:
        texts += expanded_queries(client, path, {"metric": metric} if "metric" in names else {})
    for hostile in HOSTILE:  # every variable at once, then each alone with one value
        texts += expanded_queries(client, path, {name: [hostile] for name in names})
    for index, name in enumerate(names):
        texts += expanded_queries(client, path, {name: [HOSTILE[index % len(HOSTILE)]]})
    before = table_counts(client)
    (tmp_path / "queries.json").write_text(json.dumps(texts))
    done = subprocess.run(
        [
            str(binary),
            "-addr",
            f"{seeded.server.host}:{seeded.server.port}",
            "-password",
            ADMIN_PASSWORD,
            "-queries",
            str(tmp_path / "queries.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == len(texts)
    for text, result in zip(texts, results, strict=True):
        assert "error" not in result, f"{result['error']}\n--- query ---\n{text}"
        assert "root:" not in result["text"], f"a host file leaked:\n{text}"
        assert result["rows"] == len(run_sql(client, text)[1]), text
    assert table_counts(client) == before
