"""Environment capture: exact package versions, hardware, environment variables without secrets."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from collections.abc import Callable

import pytest
import runstream
from runstream.capture.environment import capture_environment, environment_variables
from runstream.capture.seeds import determinism_settings
from runstream.redaction import REDACTED
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb


@pytest.fixture(scope="module")
def environment() -> pb.Environment:
    """One capture for the read-only checks below (a capture walks every installed package)."""
    return capture_environment(determinism_settings(None))


def test_packages_include_pytest_with_its_exact_version(environment: pb.Environment) -> None:
    versions = {package.name.lower(): package.version for package in environment.packages}
    assert versions["pytest"] == importlib.metadata.version("pytest") == pytest.__version__
    assert versions["runstream"] == runstream.__version__
    assert versions["protobuf"] == importlib.metadata.version("protobuf")


def test_each_package_is_listed_once_and_sorted(environment: pb.Environment) -> None:
    names = [package.name.lower() for package in environment.packages]
    assert len(names) == len(set(names))
    assert names == sorted(names)
    assert all(package.version for package in environment.packages)


def test_interpreter_and_hardware(environment: pb.Environment) -> None:
    assert environment.python_version == platform.python_version()
    assert environment.python_executable
    assert environment.cpu_count == os.cpu_count()
    assert environment.memory_total_bytes > 256 * 1024 * 1024
    assert environment.hostname and environment.os and environment.cpu_model


CREDENTIAL_VARIABLES = {
    "HF_TOKEN": "hf_abcdefghijklmnop",
    "GITHUB_TOKEN": "ghp_0123456789abcdef",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEB",
    "PGPASSWORD": "pg-hunter2",
    "WANDB_API_KEY": "0123456789abcdef0123",
    "MY_SERVICE_SECRET": "s3cr3t-value",
}


def test_credential_like_variables_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIAL_VARIABLES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    captured = environment_variables()
    for name in CREDENTIAL_VARIABLES:
        assert captured[name] == REDACTED, name
    assert captured["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert captured["OMP_NUM_THREADS"] == "4"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "postgres://alice:hunter2@db.internal:5432/runs",
            f"postgres://alice:{REDACTED}@db.internal:5432/runs",
        ),
        ("http://bob:pr0xy-pw@proxy:3128", f"http://bob:{REDACTED}@proxy:3128"),
        # Redis URLs carry a password and no user name.
        ("redis://:hunter2@localhost:6379/0", f"redis://:{REDACTED}@localhost:6379/0"),
        (
            "https://u:first@a.example/simple https://u:second@b.example/simple",
            f"https://u:{REDACTED}@a.example/simple https://u:{REDACTED}@b.example/simple",
        ),
        # No password: nothing to hide, the value is kept as it is.
        ("https://pypi.org/simple", "https://pypi.org/simple"),
        ("ssh://git@github.com/org/repo.git", "ssh://git@github.com/org/repo.git"),
        ("localhost:9092", "localhost:9092"),
    ],
)
def test_passwords_inside_urls_are_redacted(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("SERVICE_URL", value)
    assert environment_variables()["SERVICE_URL"] == expected


def test_secrets_from_the_environment_never_reach_the_spool(
    monkeypatch: pytest.MonkeyPatch,
    start_run: Callable[..., runstream.Run],
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    runstream_dir: Settings,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_never_in_the_spool")
    monkeypatch.setenv("DATABASE_URL", "postgres://alice:pw_never_in_the_spool@db/x")
    start_run(capture_env=True).finish()

    spool_bytes = b"".join(path.read_bytes() for path in runstream_dir.spool_dir.glob("*.seg"))
    assert b"never_in_the_spool" not in spool_bytes
    variables = read_envelopes(runstream_dir)[0].run_started.environment.variables
    assert variables["HF_TOKEN"] == REDACTED
    assert variables["DATABASE_URL"] == f"postgres://alice:{REDACTED}@db/x"
    assert variables["RUNSTREAM_DIR"] == os.environ["RUNSTREAM_DIR"]
