"""Where runstream keeps its local data and which services it talks to.

Everything comes from environment variables so that a training script needs no
code change between a laptop (embedded mode) and a team cluster (Kafka).

This module is the only reader of the process environment in the SDK and the
processors (a test walks the sources to keep it so): every ``RUNSTREAM_*``
variable becomes a :class:`Settings` field in :func:`load_settings`, and the few
places that record the environment of a run go through :func:`env_value` and
:func:`environment_snapshot`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import InvalidInputError

DEFAULT_DIR = ".runstream"

Mode = Literal["embedded", "kafka"]

KAFKA_COMPRESSIONS: dict[str, str | None] = {"gzip": "gzip", "none": None, "": None}
"""Accepted ``RUNSTREAM_KAFKA_COMPRESSION`` values and the kafka-python codec each means.
lz4 and zstd are left out: they need packages the processors' consumer does not have."""

_SPOOL_NAMES: dict[Mode, str] = {"embedded": "local", "kafka": "kafka"}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build it with :func:`load_settings`."""

    root: Path
    """Local data root: spool, embedded store, artifacts. ``RUNSTREAM_DIR``; default
    ``./.runstream`` (the ``dir=`` of ``runstream.init`` and the CLI's ``--dir`` win)."""
    kafka_bootstrap: str | None
    """``host:port[,host:port]`` of the Kafka brokers. ``RUNSTREAM_KAFKA_BOOTSTRAP``; default
    unset, which means embedded mode (see :attr:`mode`)."""
    kafka_topic: str
    """Topic the shipper produces to and the worker consumes. ``RUNSTREAM_KAFKA_TOPIC``;
    default ``runstream.events.v1``."""
    clickhouse_url: str | None
    """A ClickHouse HTTP endpoint (a real server or ``runstream store serve``) the CLI and
    the worker use instead of the embedded store. ``RUNSTREAM_CLICKHOUSE_URL``; default
    unset (the embedded store under :attr:`store_dir`)."""
    s3_endpoint: str | None
    """S3 server artifacts are uploaded to. ``RUNSTREAM_S3_ENDPOINT``; default unset
    (artifacts stay in :attr:`artifacts_dir` only)."""
    s3_access_key: str | None
    """``RUNSTREAM_S3_ACCESS_KEY``; default unset (anonymous requests)."""
    s3_secret_key: str | None
    """``RUNSTREAM_S3_SECRET_KEY``; default unset (anonymous requests)."""
    s3_bucket: str
    """Bucket of the artifacts. ``RUNSTREAM_S3_BUCKET``; default ``runstream-artifacts``."""
    spool_retention_s: float = 7 * 24 * 3600.0
    """Consumed spool segments are kept this long for replays.
    ``RUNSTREAM_SPOOL_RETENTION_HOURS`` (in hours); default 168 (7 days)."""
    server_users_file: Path | None = None
    """Users of ``runstream store serve`` (TOML or JSON). ``RUNSTREAM_SERVER_USERS``; default
    unset."""
    server_password: str | None = field(default=None, repr=False)
    """Password of the server's read-write user ``default``, when there is no users
    file. ``RUNSTREAM_SERVER_PASSWORD``; default unset (no password: loopback only)."""
    server_readonly_password: str | None = field(default=None, repr=False)
    """Adds the server's dashboard user ``readonly`` with this password, when there is no
    users file: it reads, writes nothing, and may send settings within the server's limits
    (Grafana's plugin sends ``max_execution_time``). ``RUNSTREAM_SERVER_READONLY_PASSWORD``;
    default unset."""
    strict: bool = False
    """Runs raise on invalid input to ``log`` and friends instead of counting it and
    warning. ``RUNSTREAM_STRICT`` (``1``/``true``/``yes``); default off; ``init(strict=)``
    wins."""
    reproduces: str = ""
    """The run a new run reproduces (its ``RunStarted.reproduces``): ``runstream reproduce``
    sets it for the command it re-runs. ``RUNSTREAM_REPRODUCES``; default unset."""
    kafka_compression: str | None = "gzip"
    """Codec of the batches the shipper produces: ``gzip``, or None for none.
    ``RUNSTREAM_KAFKA_COMPRESSION`` (``gzip`` or ``none``); default ``gzip``."""
    alert_webhook_url: str | None = None
    """Where the processors post new alerts (Slack-compatible JSON ``{"text": ...}``).
    ``RUNSTREAM_ALERT_WEBHOOK_URL``; default unset (alerts are only stored)."""
    alert_webhook_per_minute: float = 20.0
    """Webhook posts per minute in all (a token bucket; more are counted, not posted).
    ``RUNSTREAM_ALERT_WEBHOOK_PER_MINUTE``; default 20."""
    alert_webhook_per_run_per_minute: float = 5.0
    """Webhook posts per minute for one run. ``RUNSTREAM_ALERT_WEBHOOK_PER_RUN_PER_MINUTE``;
    default 5."""

    @property
    def mode(self) -> Mode:
        """``kafka`` when :attr:`kafka_bootstrap` is set, else ``embedded``.

        The mode picks the spool a training process writes (:attr:`spool_dir`), and so
        which consumer reads its events:

        * ``embedded``: ``spool/local``. Its consumer is the store: the CLI (before every
          query) and ``runstream store serve`` take it into the embedded store.
        * ``kafka``: ``spool/kafka``. Its consumer is the shipper: the training process's
          background thread and ``runstream sync`` send it to Kafka, where the worker
          takes it into ClickHouse. The CLI still takes in ``spool/local``, which holds
          whatever ran in embedded mode on this machine.
        """
        return "kafka" if self.kafka_bootstrap else "embedded"

    @property
    def spool_dir(self) -> Path:
        """The spool this process writes: ``spool/local`` or ``spool/kafka`` by :attr:`mode`."""
        return self.root / "spool" / _SPOOL_NAMES[self.mode]

    @property
    def local_spool_dir(self) -> Path:
        """The embedded mode's spool (``spool/local``), which the store takes in, in any mode."""
        return self.root / "spool" / _SPOOL_NAMES["embedded"]

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def hash_cache_file(self) -> Path:
        """SHA-256 of dataset files by (path, size, mtime): re-logging unchanged data is quick."""
        return self.root / "cache" / "dataset-hashes.json"


def load_settings(root: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings from the environment; ``root`` overrides ``RUNSTREAM_DIR``.

    Raises InvalidInputError naming the variable when a value is not one it accepts.
    """
    env = os.environ
    chosen_root = root if root is not None else env.get("RUNSTREAM_DIR") or DEFAULT_DIR
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
        kafka_compression=_kafka_compression(env.get("RUNSTREAM_KAFKA_COMPRESSION", "gzip")),
        strict=_flag("RUNSTREAM_STRICT", env.get("RUNSTREAM_STRICT", "")),
        alert_webhook_url=env.get("RUNSTREAM_ALERT_WEBHOOK_URL") or None,
        alert_webhook_per_minute=_rate(env, "RUNSTREAM_ALERT_WEBHOOK_PER_MINUTE", 20.0),
        alert_webhook_per_run_per_minute=_rate(
            env, "RUNSTREAM_ALERT_WEBHOOK_PER_RUN_PER_MINUTE", 5.0
        ),
        reproduces=env.get("RUNSTREAM_REPRODUCES", "").strip(),
    )


def _rate(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "")
    if not value.strip():
        return default
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not rate > 0:
        raise InvalidInputError(f"{name} must be a positive number (per minute), got {value!r}")
    return rate


def _flag(name: str, value: str) -> bool:
    flag = value.strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return True
    if flag in ("", "0", "false", "no", "off"):
        return False
    raise InvalidInputError(f"{name} must be 1 or 0 (true/false), got {value!r}")


def env_value(name: str) -> str | None:
    """One variable of the process environment that is not runstream's own, or None.

    For recording what decides a run's behaviour (``PYTHONHASHSEED``,
    ``CUBLAS_WORKSPACE_CONFIG``) and for standard variables of other tools
    (``SSL_CERT_FILE``). ``RUNSTREAM_*`` variables are read by :func:`load_settings` only.
    """
    if name.startswith("RUNSTREAM_"):
        raise ValueError(f"{name} is a runstream setting: read it through load_settings()")
    return os.environ.get(name)


def environment_snapshot() -> dict[str, str]:
    """A copy of the whole process environment, for capturing a run's environment."""
    return dict(os.environ)


def _kafka_compression(value: str) -> str | None:
    compression = value.strip().lower()
    if compression not in KAFKA_COMPRESSIONS:
        raise InvalidInputError(
            f"RUNSTREAM_KAFKA_COMPRESSION must be one of {sorted(KAFKA_COMPRESSIONS)}, got "
            f"{compression!r} (lz4 and zstd need packages the processors do not have)"
        )
    return KAFKA_COMPRESSIONS[compression]
