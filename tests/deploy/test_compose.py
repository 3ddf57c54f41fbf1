"""docker-compose.yml, checked without a Docker engine (none on the build machines).

What ``docker compose up`` would only discover on a user's machine is checked here from the
files: images pinned to a version, every mounted or built path present in the repository,
health checks and start-up order consistent, every credential overridable with a default,
and the README's team section naming every service, port and variable. Where a Docker
engine answers, ``docker compose config`` validates the file against Compose itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from real_services import docker_available

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
README = REPO / "README.md"
ONE_SHOT = "service_completed_successfully"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}")
_VERSION_TAG = re.compile(r"^(v?\d+(\.\d+)*([.-][\w.-]+)?|RELEASE\.[\w.-]+)$")

Service = dict[str, Any]


@cache
def compose() -> dict[str, Any]:
    text = COMPOSE.read_text()
    data = yaml.safe_load(_with_defaults(text))
    assert isinstance(data, dict)
    return data


def _with_defaults(text: str) -> str:
    """What Compose sees with no variable set: ``${VAR:-default}`` → default."""
    return _VARIABLE.sub(lambda match: match[3] or "", text.replace("$$", "\0")).replace("\0", "$")


def services() -> dict[str, Service]:
    found = compose()["services"]
    assert isinstance(found, dict) and found
    return found


def dependents_conditions(name: str) -> set[str]:
    """The conditions under which other services wait for ``name``."""
    conditions = set()
    for service in services().values():
        depends = service.get("depends_on") or {}
        if name in depends:
            conditions.add(depends[name]["condition"])
    return conditions


def is_one_shot(name: str) -> bool:
    """A job that runs to completion (topics, bucket, migrations): no health to check."""
    service = services()[name]
    return str(service.get("restart", "no")) == "no" and dependents_conditions(name) == {ONE_SHOT}


def team_section() -> str:
    """README.md's section about the team set-up (the heading that mentions 'team')."""
    text = README.read_text() if README.exists() else ""
    sections = re.split(r"(?m)^(?=#{1,3} )", text)
    matching = [section for section in sections if re.match(r"#{1,3} .*\bteam", section, re.I)]
    assert matching, "README.md needs a section whose heading mentions 'team' (docker compose)"
    return "\n".join(matching)


# -- the file itself --------------------------------------------------------------------------


def test_parses_and_has_the_whole_stack() -> None:
    names = set(services())
    assert {"kafka", "kafka-topics", "worker", "clickhouse", "migrate", "minio"} <= names
    assert {"minio-bucket", "grafana"} <= names


@pytest.mark.parametrize("name", sorted(services()))
def test_image_is_pinned_to_a_version(name: str) -> None:
    service = services()[name]
    if "build" in service and "image" not in service:
        return
    image = service["image"]
    if "@sha256:" in image:
        return
    repository, _, tag = image.rpartition(":")
    assert repository and "/" not in tag, f"{name}: {image} has no tag"
    assert tag != "latest" and _VERSION_TAG.match(tag), f"{name}: {image} is not a version tag"


def test_dockerfile_base_images_are_pinned() -> None:
    for dockerfile in (REPO / "deploy" / "docker").glob("Dockerfile*"):
        for line in dockerfile.read_text().splitlines():
            if line.upper().startswith("FROM "):
                image = line.split()[1]
                tag = image.rpartition(":")[2]
                assert ":" in image and tag != "latest" and re.match(r"\d", tag), line


@pytest.mark.parametrize("name", sorted(services()))
def test_build_context_and_dockerfile_exist(name: str) -> None:
    build = services()[name].get("build")
    if build is None:
        return
    build = {"context": build} if isinstance(build, str) else build
    context = (REPO / build.get("context", ".")).resolve()
    assert context.is_dir(), f"{name}: build context {context} is missing"
    assert (context / build.get("dockerfile", "Dockerfile")).is_file()


@pytest.mark.parametrize("name", sorted(services()))
def test_bind_mounts_exist_and_volumes_are_declared(name: str) -> None:
    declared = set(compose().get("volumes") or {})
    for volume in services()[name].get("volumes", []):
        source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
        if source.startswith((".", "/")):
            path = (REPO / source).resolve()
            assert path.exists(), f"{name}: bind-mounted {source} is not in the repository"
            assert REPO in path.parents or path == REPO, f"{name}: {source} is outside the repo"
        else:
            assert source in declared, f"{name}: volume {source!r} is not declared"


@pytest.mark.parametrize("name", sorted(services()))
def test_long_running_services_have_health_checks(name: str) -> None:
    service = services()[name]
    if is_one_shot(name):
        assert "healthcheck" not in service, f"{name} runs once: depend on its completion"
        return
    check = service.get("healthcheck")
    assert check and check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
    assert {"interval", "timeout", "retries"} <= set(check), f"{name}: incomplete healthcheck"


@pytest.mark.parametrize("name", sorted(services()))
def test_start_order_waits_on_the_right_condition(name: str) -> None:
    depends = services()[name].get("depends_on") or {}
    assert isinstance(depends, dict), f"{name}: depends_on needs conditions (long form)"
    for other, spec in depends.items():
        assert other in services(), f"{name} depends on unknown {other}"
        condition = spec["condition"]
        if condition == "service_healthy":
            assert "healthcheck" in services()[other], f"{other} has no healthcheck to wait on"
        else:
            assert condition == ONE_SHOT and is_one_shot(other), f"{name} → {other}: {condition}"


def test_every_variable_has_a_default() -> None:
    text = COMPOSE.read_text().replace("$$", "")
    for match in _VARIABLE.finditer(text):
        assert match[2] and match[2].startswith(":-") and match[3], (
            f"${{{match[1]}}} needs a documented default: ${{{match[1]}:-...}}"
        )
    assert "$" not in _VARIABLE.sub("", text), "a bare $VAR slipped in (use ${VAR:-default})"


def test_worker_talks_to_the_services_of_the_stack() -> None:
    env = services()["worker"]["environment"]
    assert env["RUNSTREAM_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert re.fullmatch(r"http://runstream:[^@]+@clickhouse:8123", env["RUNSTREAM_CLICKHOUSE_URL"])
    assert env["RUNSTREAM_S3_ENDPOINT"] == "http://minio:9000"
    assert {"RUNSTREAM_S3_ACCESS_KEY", "RUNSTREAM_S3_SECRET_KEY", "RUNSTREAM_S3_BUCKET"} <= set(env)
    assert services()["worker"]["command"] == ["runstream", "worker"]


def test_topics_script_creates_both_topics() -> None:
    script = (REPO / "deploy" / "kafka" / "create-topics.sh").read_text()
    assert "runstream.events.v1" in script and "runstream.dlq.v1" in script
    assert "--if-not-exists" in script


# -- Grafana provisioning ------------------------------------------------------------------


def test_grafana_datasource_is_the_clickhouse_plugin_over_http_read_only() -> None:
    path = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "clickhouse.yaml"
    (source,) = yaml.safe_load(path.read_text())["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    settings = source["jsonData"]
    assert (settings["protocol"], settings["port"], settings["host"]) == (
        "http",
        8123,
        "clickhouse",
    )
    users = (REPO / "deploy" / "clickhouse" / "users.d" / "runstream.xml").read_text()
    reader = users.split(f"<{settings['username']}>", 1)[1].split(f"</{settings['username']}>")[0]
    assert "GRANT SELECT ON runstream.*" in reader and "runstream_reader" in reader
    plugin = services()["grafana"]["environment"]["GF_PLUGINS_PREINSTALL_SYNC"]
    assert re.fullmatch(r"grafana-clickhouse-datasource@\d+\.\d+\.\d+", plugin)


def test_dashboard_provider_points_at_the_mounted_dashboards() -> None:
    path = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "runstream.yaml"
    (provider,) = yaml.safe_load(path.read_text())["providers"]
    mounts = dict(volume.split(":")[:2] for volume in services()["grafana"]["volumes"])
    assert mounts["./dashboards"] == provider["options"]["path"]
    dashboards = sorted((REPO / "dashboards").glob("*.json"))
    assert dashboards, "dashboards/ has nothing to provision"
    for dashboard in dashboards:
        document = json.loads(dashboard.read_text())
        assert document["uid"] and document["panels"], dashboard.name
        for panel in document["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["type"] == "grafana-clickhouse-datasource"
                assert "runstream." in target["rawSql"]


# -- README ----------------------------------------------------------------------------------


def published_ports() -> dict[str, list[str]]:
    ports: dict[str, list[str]] = {}
    for name, service in services().items():
        for spec in service.get("ports", []):
            parts = str(spec).split(":")
            ports.setdefault(name, []).append(parts[-2] if len(parts) > 1 else parts[-1])
    return ports


def test_readme_team_section_names_every_service_port_and_variable() -> None:
    section = team_section()
    missing = [name for name in services() if not re.search(rf"\b{re.escape(name)}\b", section)]
    assert not missing, f"README team section does not mention the services {missing}"
    for name, ports in published_ports().items():
        for port in ports:
            assert re.search(rf"\b{port}\b", section), f"README: {name}'s port {port} missing"
    variables = {match[1] for match in _VARIABLE.finditer(COMPOSE.read_text())}
    undocumented = sorted(name for name in variables if name not in section)
    assert not undocumented, f"README team section does not document {undocumented}"


# -- with a Docker engine ----------------------------------------------------------------------


@pytest.mark.docker
def test_docker_compose_config_accepts_the_file() -> None:
    if not docker_available() or shutil.which("docker") is None:
        pytest.skip("no Docker engine here")
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
