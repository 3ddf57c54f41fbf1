"""``runstream dashboards push``: the datasource and dashboards into your own Grafana.

The compose file provisions them from files; a Grafana that is already running somewhere
gets the same through its HTTP API. Pushing again changes nothing and says so.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import click

from .output import emit_rows, format_option


@click.group("dashboards")
def dashboards() -> None:
    """Grafana dashboards for the store (compose provisions them; push installs them)."""


@dashboards.command("push")
@click.option("--url", required=True, help="Grafana's URL, e.g. http://grafana:3000")
@click.option("--token", help="a service account token (Bearer)")
@click.option("--user", help="a Grafana user (basic auth), with --password")
@click.option("--password", help="that user's password")
@click.option("--folder", default="runstream", show_default=True, help="folder uid and title")
@click.option(
    "--dashboards",
    "dashboards_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="folder of dashboard JSON [default: this checkout's dashboards/, else the installed one]",
)
@click.option(
    "--datasource-url",
    default="http://127.0.0.1:8123",
    show_default=True,
    help="the ClickHouse HTTP interface as Grafana's server reaches it",
)
@click.option("--datasource-user", default="grafana", show_default=True, help="a read-only user")
@click.option(
    "--datasource-password",
    help="its password (sent when the datasource is created or changed, or has none stored)",
)
@format_option
def push_command(
    url: str,
    token: str | None,
    user: str | None,
    password: str | None,
    folder: str,
    dashboards_dir: Path | None,
    datasource_url: str,
    datasource_user: str,
    datasource_password: str | None,
    output_format: str,
) -> None:
    """Create or update the runstream datasource (uid runstream-clickhouse) and every
    dashboard, in FOLDER; what already matches is left alone."""
    from .. import grafana

    source = grafana.Datasource(datasource_url, datasource_user, datasource_password)
    folder_of_json = grafana.dashboards_dir(dashboards_dir)
    api = grafana.connect(url, token, user, password)
    changes = grafana.push(api, source, folder, folder_of_json)
    emit_rows(
        [{"kind": c.kind, "name": c.name, "action": c.action} for c in changes],
        output_format,
        title=f"Grafana at {urlparse(url).hostname}",
    )
