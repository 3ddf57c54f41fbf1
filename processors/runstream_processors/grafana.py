"""Install the runstream datasource and dashboards into an existing Grafana, idempotently.

What the compose file provisions from files (``deploy/grafana/provisioning``), done through
Grafana's HTTP API with grafana-client for a Grafana that someone else runs. Each object is
read first and written only when it differs, so a second push changes nothing and says
``unchanged``; dashboards are saved with ``overwrite`` into one folder.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .errors import GrafanaError

DATASOURCE_UID = "runstream-clickhouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"
DEFAULT_DASHBOARDS = (
    Path(__file__).resolve().parents[2] / "dashboards",
    Path(sys.prefix) / "share" / "runstream" / "dashboards",
)
"""Where the dashboards are: a checkout's ``dashboards/`` (an editable install), else where a
wheel puts them (pyproject's ``data-files``)."""


@dataclass(frozen=True)
class Change:
    kind: str
    """``datasource``, ``folder`` or ``dashboard``."""
    name: str
    action: str
    """``created``, ``updated`` or ``unchanged``."""


@dataclass(frozen=True)
class Datasource:
    """Where Grafana reaches the store, as in deploy/grafana/provisioning/datasources."""

    url: str
    user: str = "grafana"
    password: str | None = None

    def body(self) -> dict[str, Any]:
        parsed = urlparse(self.url if "://" in self.url else f"http://{self.url}")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise GrafanaError(f"datasource URL {self.url!r}: expected http(s)://HOST:PORT")
        secure = parsed.scheme == "https"
        return {
            "name": "runstream",
            "uid": DATASOURCE_UID,
            "type": DATASOURCE_TYPE,
            "access": "proxy",
            "isDefault": True,
            "jsonData": {
                "host": parsed.hostname,
                "port": parsed.port or (443 if secure else 8123),
                "protocol": "http",
                "secure": secure,
                "username": self.user,
                "defaultDatabase": "runstream",
                "dialTimeout": 10,
                "queryTimeout": 60,
            },
        }


def dashboards_dir(given: Path | None) -> Path:
    """The folder of dashboard JSON: the one given, else the first default that has some."""
    for folder in [given] if given else DEFAULT_DASHBOARDS:
        if folder.is_dir() and any(folder.glob("*.json")):
            return folder
    looked = given or " or ".join(str(folder) for folder in DEFAULT_DASHBOARDS)
    raise GrafanaError(
        f"no dashboard JSON in {looked}: pass --dashboards DIR "
        "(the dashboards/ folder of a runstream checkout)"
    )


def connect(url: str, token: str | None, user: str | None, password: str | None) -> Any:
    """A grafana-client API on ``url``, with a token or a user and password (or the URL's)."""
    try:
        from grafana_client.api import GrafanaApi
    except ImportError as exc:
        needed = "dashboards push needs grafana-client: pip install 'runstream[grafana]'"
        raise GrafanaError(needed) from exc

    if token and user:
        raise GrafanaError("give --token or --user/--password, not both")
    credential: str | tuple[str, str] | None = token
    if user:
        credential = (user, password or "")
    return GrafanaApi.from_url(url, credential=credential, timeout=10.0)


def push(api: Any, source: Datasource, folder: str, dashboards: Path) -> list[Change]:
    """Datasource, folder, then every dashboard of ``dashboards``: what each push changed."""
    try:
        return [
            _datasource(api, source),
            _folder(api, folder),
            *(_dashboard(api, path, folder) for path in sorted(dashboards.glob("*.json"))),
        ]
    except GrafanaError:
        raise
    except Exception as exc:  # grafana-client's and niquests' errors: one clear line
        raise GrafanaError(f"Grafana at {api.url}: {exc}") from exc


def _datasource(api: Any, source: Datasource) -> Change:
    wanted = source.body()
    existing = _get(lambda: api.datasource.get_datasource_by_uid(DATASOURCE_UID))
    secure = {"secureJsonData": {"password": source.password}} if source.password else {}
    if existing is None:
        api.datasource.create_datasource({**wanted, **secure})
        return Change("datasource", wanted["name"], "created")
    same = all(existing.get(key) == value for key, value in wanted.items() if key != "jsonData")
    same = same and all(
        existing.get("jsonData", {}).get(key) == value for key, value in wanted["jsonData"].items()
    )
    # Grafana never returns a secret: only whether one is stored
    has_password = bool(existing.get("secureJsonFields", {}).get("password"))
    if same and (has_password or not source.password):
        return Change("datasource", wanted["name"], "unchanged")
    jsonData = {**existing.get("jsonData", {}), **wanted["jsonData"]}
    api.datasource.update_datasource_by_uid(
        DATASOURCE_UID, {**wanted, "jsonData": jsonData, **secure}
    )
    return Change("datasource", wanted["name"], "updated")


def _folder(api: Any, uid: str) -> Change:
    if _get(lambda: api.folder.get_folder(uid)) is not None:
        return Change("folder", uid, "unchanged")
    api.folder.create_folder(uid, uid=uid)
    return Change("folder", uid, "created")


def _dashboard(api: Any, path: Path, folder: str) -> Change:
    try:
        wanted = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GrafanaError(f"{path}: not a dashboard JSON file ({exc})") from exc
    uid = wanted.get("uid")
    if not uid:
        raise GrafanaError(f"{path}: a dashboard needs a fixed uid to be pushed idempotently")
    existing = _get(lambda: api.dashboard.get_dashboard(uid))
    if existing is not None:
        stored = dict(_without_ids(existing.get("dashboard", {})))
        in_folder = existing.get("meta", {}).get("folderUid") == folder
        if in_folder and stored == dict(_without_ids(wanted)):
            return Change("dashboard", wanted.get("title", uid), "unchanged")
    api.dashboard.update_dashboard(
        {
            "dashboard": {**wanted, "id": None},
            "folderUid": folder,
            "overwrite": True,
            "message": f"runstream dashboards push ({path.name})",
        }
    )
    return Change("dashboard", wanted.get("title", uid), "updated" if existing else "created")


def _without_ids(dashboard: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """A dashboard less what Grafana assigns on save (its id and version)."""
    return ((key, value) for key, value in dashboard.items() if key not in ("id", "version"))


def _get(read: Any) -> dict[str, Any] | None:
    """The object ``read`` returns, or None where Grafana answers 404."""
    from grafana_client.client import GrafanaClientError

    try:
        found = read()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise
    return found if isinstance(found, dict) else None
