"""``runstream dashboards push`` installs the datasource and dashboards, and twice is once.

No Grafana server can run on a machine without Docker, so the first tests push, through the
real grafana-client, to ``FakeGrafana``: a stand-in for the few endpoints of Grafana's HTTP
API that a push calls (GET/POST/PUT /api/datasources/uid/..., GET/POST /api/folders,
GET /api/dashboards/uid/..., POST /api/dashboards/db), shaped as Grafana's API reference
documents them (404 for what does not exist, ids and versions assigned on save). It records
every request, so the tests see what was written. The last test pushes to a real
grafana/grafana:12.3.0 through testcontainers where a Docker engine answers.
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from real_services import docker_available
from runstream_processors.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
PROVISIONED = REPO / "deploy/grafana/provisioning/datasources/clickhouse.yaml"
TOKEN = "glsa_test-token"


class FakeGrafana(ThreadingHTTPServer):
    """Datasources, folders and dashboards kept in dicts; every request recorded."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, str, str, Any]] = []  # method, path, auth, body
        self.datasources: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, tuple[dict[str, Any], str]] = {}  # uid → (json, folder uid)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _, _ in self.requests if method != "GET"]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.removeprefix("/api/").split("/")
        if parts[:2] == ["datasources", "uid"] and method == "GET":
            found = self.datasources.get(parts[2])
            return (200, found) if found else (404, {"message": "Data source not found"})
        if parts == ["datasources"] and method == "POST":
            return 200, {"datasource": self._save_datasource(body), "message": "Datasource added"}
        if parts[:2] == ["datasources", "uid"] and method == "PUT":
            if parts[2] not in self.datasources:
                return 404, {"message": "Data source not found"}
            return 200, {"datasource": self._save_datasource(body), "message": "Datasource updated"}
        if parts[0] == "folders" and method == "GET" and len(parts) == 2:
            found = self.folders.get(parts[1])
            return (200, found) if found else (404, {"message": "folder not found"})
        if parts == ["folders"] and method == "POST":
            if body["uid"] in self.folders:
                return 409, {"message": "a folder with the same uid already exists"}
            self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "id": 1}
            return 200, self.folders[body["uid"]]
        if parts[:2] == ["dashboards", "uid"] and method == "GET":
            if parts[2] not in self.dashboards:
                return 404, {"message": "Dashboard not found"}
            dashboard, folder = self.dashboards[parts[2]]
            return 200, {"dashboard": dashboard, "meta": {"folderUid": folder}}
        if parts == ["dashboards", "db"] and method == "POST":
            return self._save_dashboard(body)
        return 404, {"message": f"not in this fake: {method} {path}"}

    def _save_datasource(self, body: dict[str, Any]) -> dict[str, Any]:
        stored = {k: v for k, v in body.items() if k != "secureJsonData"}
        secret = body.get("secureJsonData", {})
        old = self.datasources.get(body["uid"], {})
        stored["secureJsonFields"] = {
            **old.get("secureJsonFields", {}),
            **{key: True for key in secret},
        }
        stored["id"] = old.get("id", len(self.datasources) + 1)
        self.datasources[body["uid"]] = stored
        return stored

    def _save_dashboard(self, body: dict[str, Any]) -> tuple[int, Any]:
        dashboard = dict(body["dashboard"])
        folder = body.get("folderUid", "")
        if folder and folder not in self.folders:
            return 400, {"message": "folder not found"}
        old = self.dashboards.get(dashboard["uid"])
        if old and not body.get("overwrite"):
            return 412, {"status": "version-mismatch"}
        version = old[0]["version"] + 1 if old else 1
        dashboard.update(id=7, version=version)
        self.dashboards[dashboard["uid"]] = (dashboard, folder)
        return 200, {"status": "success", "uid": dashboard["uid"], "version": version, "id": 7}


class _Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path = self.path.split("?", 1)[0]
        self.server.requests.append(
            (self.command, path, self.headers.get("Authorization", ""), body)
        )
        status, answer = self.server.answer(self.command, path, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _serve

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def push(url: str, *args: str) -> dict[str, str]:
    result = CliRunner().invoke(
        cli, ["dashboards", "push", "--url", url, "--format", "json", *args]
    )
    assert result.exit_code == 0, result.output
    return {f"{row['kind']}:{row['name']}": row["action"] for row in json.loads(result.stdout)}


def test_push_installs_what_compose_provisions_and_a_second_push_changes_nothing(
    grafana: FakeGrafana, tmp_path: Path
) -> None:
    boards = tmp_path / "dashboards"
    shutil.copytree(REPO / "dashboards", boards)
    source = ["--datasource-url", "http://clickhouse:8123", "--datasource-password", "s3cret"]
    args = ["--token", TOKEN, "--dashboards", str(boards), *source]
    first = push(grafana.url, *args)
    titles = [json.loads(p.read_text())["title"] for p in sorted(boards.glob("*.json"))]
    assert first == {
        "datasource:runstream": "created",
        "folder:runstream": "created",
        **{f"dashboard:{title}": "created" for title in titles},
    }
    assert {auth for _, _, auth, _ in grafana.requests} == {f"Bearer {TOKEN}"}

    # the same datasource as the provisioning file, with the password sent as a secret
    provisioned = yaml.safe_load(PROVISIONED.read_text())["datasources"][0]
    stored = grafana.datasources["runstream-clickhouse"]
    for key in ("name", "uid", "type", "access", "isDefault"):
        assert stored[key] == provisioned[key]
    assert stored["jsonData"] == provisioned["jsonData"]
    assert stored["secureJsonFields"] == {"password": True}
    for path in boards.glob("*.json"):
        wanted = json.loads(path.read_text())
        saved, folder = grafana.dashboards[wanted["uid"]]
        assert folder == "runstream" and saved["panels"] == wanted["panels"]

    written = len(grafana.writes())
    second = push(grafana.url, *args)
    assert set(second.values()) == {"unchanged"} and second.keys() == first.keys()
    assert len(grafana.writes()) == written  # nothing sent but reads

    # one changed file: that dashboard alone is saved again, over the old version
    changed = next(iter(sorted(boards.glob("*.json"))))
    board = json.loads(changed.read_text())
    board["description"] = "edited"
    changed.write_text(json.dumps(board))
    third = push(grafana.url, *args)
    assert [name for name, action in third.items() if action != "unchanged"] == [
        f"dashboard:{board['title']}"
    ]
    assert third[f"dashboard:{board['title']}"] == "updated"
    assert grafana.writes()[written:] == [("POST", "/api/dashboards/db")]
    assert grafana.dashboards[board["uid"]][0]["version"] == 2


def test_push_updates_a_datasource_that_differs_with_basic_auth(grafana: FakeGrafana) -> None:
    push(grafana.url, "--user", "admin", "--password", "pw", "--datasource-url", "http://a:8123")
    moved = push(
        grafana.url, "--user", "admin", "--password", "pw", "--datasource-url", "https://b:8443"
    )
    assert moved["datasource:runstream"] == "updated"
    stored = grafana.datasources["runstream-clickhouse"]["jsonData"]
    assert (stored["host"], stored["port"], stored["secure"]) == ("b", 8443, True)
    basic = "Basic " + base64.b64encode(b"admin:pw").decode()
    assert {auth for _, _, auth, _ in grafana.requests} == {basic}


def test_push_to_no_grafana_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"title": "no uid"}')
    result = CliRunner().invoke(
        cli, ["dashboards", "push", "--url", "http://127.0.0.1:9", "--dashboards", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "Grafana at http://127.0.0.1:9" in str(result.exception)


@pytest.mark.docker
def test_push_to_a_real_grafana(tmp_path: Path) -> None:
    if not docker_available():
        pytest.skip("no Docker engine answers: the real-Grafana push needs one")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    with DockerContainer("grafana/grafana:12.3.0").with_exposed_ports(3000) as container:
        wait_for_logs(container, "HTTP Server Listen", timeout=120)
        url = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(3000)}"
        args = ["--user", "admin", "--password", "admin", "--datasource-password", "x"]
        first = push(url, *args)
        assert set(first.values()) == {"created"}
        assert set(push(url, *args).values()) == {"unchanged"}
