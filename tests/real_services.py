"""Real Kafka and S3 endpoints for the tests: never mocks.

Each of the session fixtures ``kafka_bootstrap`` and ``s3_endpoint`` takes the first of:

(a) endpoints given by environment variables: ``RUNSTREAM_TEST_KAFKA_BOOTSTRAP`` and
    ``RUNSTREAM_TEST_S3_ENDPOINT`` (+ ``_ACCESS_KEY``, ``_SECRET_KEY``, ``_BUCKET``);
(b) testcontainers, when a Docker engine answers a ping within 2 s (images overridable with
    ``RUNSTREAM_TEST_KAFKA_IMAGE`` / ``RUNSTREAM_TEST_MINIO_IMAGE``; set
    ``RUNSTREAM_TEST_DOCKER=0`` to skip this step);
(c) the local servers of ``deploy/local/services.sh`` (installed on first use, cached
    outside the repository), stopped at the end of the session only if this fixture
    started them.

``local_kafka`` gives a :class:`LocalKafka` to stop/kill and restart the broker mid-test; it
exists only in mode (c), elsewhere the test is skipped with the reason.

Use from ``tests/conftest.py`` (with ``tests/`` on ``sys.path``)::

    from real_services import *  # the fixtures and types in __all__
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest

__all__ = [
    "LocalKafka",
    "LocalServices",
    "S3Endpoint",
    "docker_available",
    "kafka_bootstrap",
    "local_kafka",
    "s3_endpoint",
]

SERVICES_SH = Path(__file__).resolve().parents[1] / "deploy" / "local" / "services.sh"
DEFAULT_BUCKET = "runstream-artifacts"
KAFKA_IMAGE = os.environ.get("RUNSTREAM_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.9.0")
MINIO_IMAGE = os.environ.get(
    "RUNSTREAM_TEST_MINIO_IMAGE", "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z"
)


@dataclass(frozen=True)
class S3Endpoint:
    url: str  # "http://127.0.0.1:19000"
    access_key: str
    secret_key: str
    bucket: str

    @property
    def netloc(self) -> str:
        """``host:port``, as the ``minio`` client wants it (with ``secure=self.secure``)."""
        return urlsplit(self.url).netloc

    @property
    def secure(self) -> bool:
        return urlsplit(self.url).scheme == "https"


class LocalServices:
    """``deploy/local/services.sh``, run with this process's environment."""

    def __init__(self, script: Path = SERVICES_SH) -> None:
        self.script = script

    def run(self, *args: str, timeout: float = 900.0, check: bool = True) -> int:
        proc = subprocess.run(
            ["bash", str(self.script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip().splitlines()[-30:]
            raise RuntimeError(
                f"{self.script.name} {' '.join(args)} failed (exit {proc.returncode}):\n"
                + "\n".join(output)
            )
        return proc.returncode

    def is_running(self, service: str) -> bool:
        return self.run("status", service, timeout=60.0, check=False) == 0

    def env(self) -> dict[str, str]:
        """The ``export NAME=value`` lines of ``services.sh env``, as a dict."""
        out = subprocess.run(
            ["bash", str(self.script), "env"], capture_output=True, text=True, check=True
        ).stdout
        pairs = (shlex.split(line)[1].split("=", 1) for line in out.splitlines() if line)
        return {name: value for name, value in pairs}

    @contextlib.contextmanager
    def running(self, service: str) -> Iterator[None]:
        """Start ``service`` (installing it if needed); stop it afterwards if we started it."""
        already = self.is_running(service)
        try:
            self.run("start", service)
            yield
        finally:
            if not already:
                self.run("stop", service, check=False)


@dataclass(frozen=True)
class LocalKafka:
    """The broker of ``deploy/local/services.sh``; its data survives stop/kill and start."""

    services: LocalServices
    bootstrap: str

    def kill(self) -> None:
        """SIGKILL, like a crash or a pulled cable: no controlled shutdown."""
        self.services.run("kill", "kafka")

    def stop(self) -> None:
        """SIGTERM and wait (controlled shutdown; SIGKILL after 30 s)."""
        self.services.run("stop", "kafka")

    def start(self) -> None:
        """Start again on the same data and wait until a metadata request succeeds."""
        self.services.run("start", "kafka")

    def is_running(self) -> bool:
        return self.services.is_running("kafka")


# Bootstrap address -> handle, filled by ``kafka_bootstrap`` in mode (c) only.
_LOCAL_KAFKA: dict[str, LocalKafka] = {}


@cache
def docker_available() -> bool:
    """Whether a Docker engine answers a ping quickly (never hangs)."""
    if os.environ.get("RUNSTREAM_TEST_DOCKER", "1") == "0":
        return False
    try:
        # Imported by name: the docker SDK ships no type stubs (it comes with testcontainers).
        docker = importlib.import_module("docker")
        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a real Kafka broker."""
    if bootstrap := os.environ.get("RUNSTREAM_TEST_KAFKA_BOOTSTRAP"):
        yield bootstrap
    elif docker_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield str(container.get_bootstrap_server())
    else:
        services = LocalServices()
        with services.running("kafka"):
            bootstrap = services.env()["RUNSTREAM_KAFKA_BOOTSTRAP"]
            _LOCAL_KAFKA[bootstrap] = LocalKafka(services, bootstrap)
            try:
                yield bootstrap
            finally:
                del _LOCAL_KAFKA[bootstrap]


@pytest.fixture
def local_kafka(kafka_bootstrap: str) -> Iterator[LocalKafka]:
    """Control over the local broker, for outage tests; running again after the test."""
    kafka = _LOCAL_KAFKA.get(kafka_bootstrap)
    if kafka is None:
        pytest.skip(
            "needs the local broker of deploy/local/services.sh to stop and restart it; "
            f"Kafka here is {kafka_bootstrap} from RUNSTREAM_TEST_KAFKA_BOOTSTRAP or Docker"
        )
    yield kafka
    kafka.start()  # a no-op when it is running and healthy


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """A real S3-compatible server; the bucket is not created (the application does that)."""
    if url := os.environ.get("RUNSTREAM_TEST_S3_ENDPOINT"):
        yield S3Endpoint(
            url=url if "://" in url else f"http://{url}",
            access_key=os.environ.get("RUNSTREAM_TEST_S3_ACCESS_KEY", ""),
            secret_key=os.environ.get("RUNSTREAM_TEST_S3_SECRET_KEY", ""),
            bucket=os.environ.get("RUNSTREAM_TEST_S3_BUCKET", DEFAULT_BUCKET),
        )
    elif docker_available():
        from testcontainers.community.minio import MinioContainer

        access_key, secret_key = "runstream", "runstream-secret"
        container = MinioContainer(MINIO_IMAGE, access_key=access_key, secret_key=secret_key)
        container.with_env("MINIO_ROOT_USER", access_key)
        container.with_env("MINIO_ROOT_PASSWORD", secret_key)
        with container:
            netloc = container.get_config()["endpoint"]
            yield S3Endpoint(f"http://{netloc}", access_key, secret_key, DEFAULT_BUCKET)
    else:
        services = LocalServices()
        with services.running("minio"):
            env = services.env()
            yield S3Endpoint(
                url=env["RUNSTREAM_S3_ENDPOINT"],
                access_key=env["RUNSTREAM_S3_ACCESS_KEY"],
                secret_key=env["RUNSTREAM_S3_SECRET_KEY"],
                bucket=env["RUNSTREAM_S3_BUCKET"],
            )
