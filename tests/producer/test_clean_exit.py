"""A team-mode job (real Kafka, real S3) exits without tracebacks from clients' ``__del__``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from real_services import S3Endpoint
from runstream.settings import Settings

SCRIPT = textwrap.dedent(
    """
    import runstream
    with runstream.init(project="exit", name="clean", system_interval=None) as run:
        run.log({"loss": 0.5}, step=0)
        open("weights.bin", "wb").write(b"w" * 1000)
        run.log_artifact("weights.bin", kind="checkpoint")
    print("report", run.report.complete)
    """
)
UNFINISHED = textwrap.dedent(
    """
    import runstream
    run = runstream.init(project="exit", name="unfinished", system_interval=None)
    run.log({"loss": 0.5}, step=0)
    open("weights.bin", "wb").write(b"w" * 1000)
    run.log_artifact("weights.bin", kind="checkpoint")
    print("report True")  # the script ends without finish(): exit finishes the run
    """
)


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    from runstream_processors.topics import ensure_topics, runstream_topics

    name = f"tests.exit.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, runstream_topics(name, 1, f"{name}.dlq"))
    yield name
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.delete_topics([name, f"{name}.dlq"])
    except Exception:  # a leftover test topic is harmless
        pass
    finally:
        admin.close()


@pytest.mark.services
@pytest.mark.parametrize("script", [SCRIPT, UNFINISHED], ids=["finished", "left-to-exit"])
def test_a_team_mode_job_exits_without_tracebacks(
    runstream_dir: Settings,
    kafka_bootstrap: str,
    topic: str,
    s3_endpoint: S3Endpoint,
    tmp_path: Path,
    script: str,
) -> None:
    env = {
        **os.environ,
        "RUNSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RUNSTREAM_KAFKA_TOPIC": topic,
        "RUNSTREAM_S3_ENDPOINT": s3_endpoint.url,
        "RUNSTREAM_S3_ACCESS_KEY": s3_endpoint.access_key,
        "RUNSTREAM_S3_SECRET_KEY": s3_endpoint.secret_key,
        "RUNSTREAM_S3_BUCKET": s3_endpoint.bucket,
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "report True" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
