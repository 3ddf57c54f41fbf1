"""Where runstream keeps its local data and which services it talks to.

Everything comes from environment variables so that a training script needs no
code change between a laptop (embedded mode) and a team cluster (Kafka).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DIR = ".runstream"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :func:`load_settings`."""

    root: Path
    """Local data root: spool, embedded store, artifacts (``RUNSTREAM_DIR``)."""
    kafka_bootstrap: str | None
    """``host:port[,host:port]`` of the Kafka brokers; None means embedded mode."""
    kafka_topic: str
    clickhouse_url: str | None
    """A ClickHouse HTTP endpoint (a real server or ``runstream store serve``)."""
    s3_endpoint: str | None
    s3_access_key: str | None
    s3_secret_key: str | None
    s3_bucket: str
    spool_retention_s: float = 7 * 24 * 3600.0
    """Consumed spool segments are kept this long for replays (env: hours)."""
    server_users_file: Path | None = None
    """Users of ``runstream store serve`` (TOML or JSON; ``RUNSTREAM_SERVER_USERS``)."""
    server_password: str | None = field(default=None, repr=False)
    """Password of the server's read-write user ``default``, when there is no users file
    (``RUNSTREAM_SERVER_PASSWORD``)."""
    server_readonly_password: str | None = field(default=None, repr=False)
    """Adds the server's read-only user ``readonly`` with this password, when there is no
    users file (``RUNSTREAM_SERVER_READONLY_PASSWORD``)."""

    @property
    def spool_dir(self) -> Path:
        return self.root / "spool" / ("kafka" if self.kafka_bootstrap else "local")

    @property
    def local_spool_dir(self) -> Path:
        return self.root / "spool" / "local"

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"


def load_settings(root: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from the environment; ``root`` overrides ``RUNSTREAM_DIR``."""
    env = os.environ
    chosen_root = root if root is not None else env.get("RUNSTREAM_DIR", DEFAULT_DIR)
    return Settings(
        root=Path(chosen_root).expanduser().resolve(),
        kafka_bootstrap=env.get("RUNSTREAM_KAFKA_BOOTSTRAP") or None,
        kafka_topic=env.get("RUNSTREAM_KAFKA_TOPIC", "runstream.events.v1"),
        clickhouse_url=env.get("RUNSTREAM_CLICKHOUSE_URL") or None,
        s3_endpoint=env.get("RUNSTREAM_S3_ENDPOINT") or None,
        s3_access_key=env.get("RUNSTREAM_S3_ACCESS_KEY") or None,
        s3_secret_key=env.get("RUNSTREAM_S3_SECRET_KEY") or None,
        s3_bucket=env.get("RUNSTREAM_S3_BUCKET", "runstream-artifacts"),
        spool_retention_s=float(env.get("RUNSTREAM_SPOOL_RETENTION_HOURS", "168")) * 3600.0,
        server_users_file=Path(users) if (users := env.get("RUNSTREAM_SERVER_USERS")) else None,
        server_password=env.get("RUNSTREAM_SERVER_PASSWORD") or None,
        server_readonly_password=env.get("RUNSTREAM_SERVER_READONLY_PASSWORD") or None,
    )
