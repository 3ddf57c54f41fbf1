"""``pip install runstream`` without extras: the SDK, and only what a training machine needs.

A fresh virtual environment gets the distribution built from this checkout (uv's cache
keeps it to seconds): a tiny run in embedded mode works (and scrubs a token from its
environment), it holds only the distributions of :data:`BASE_DISTRIBUTIONS`, none of the
processors' dependencies came along, and the ``runstream`` console script says which extra
it needs instead of failing with a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "deploy" / "local" / "constraints.txt"
NOT_IN_THE_BASE = [
    "click", "rich", "chdb", "pyarrow", "clickhouse_connect", "aiohttp", "kafka", "minio",
    "faust", "numpy", "matplotlib",
]  # fmt: skip
BASE_DISTRIBUTIONS = {
    "runstream", "protobuf", "psutil", "nvidia-ml-py",
    # runstream.redaction's secret scanner and what it pulls in (requests is imported by
    # its plugins' base class; pyyaml by its baseline files).
    "detect-secrets", "pyyaml", "requests", "urllib3", "idna", "charset-normalizer", "certifi",
}  # fmt: skip
BASE_BUDGET_BYTES = 20 * 1024 * 1024
"""Generous bound on the base install's size (about 8.9 MiB when measured, see README: 3.1 MiB
of the SDK and its own dependencies, 5.7 MiB of detect-secrets and its)."""

PLANTED_TOKEN = "ghp_" + "Zx9Qw2Er4Ty6Ui8Op0As1Df3Gh5Jk7Lz9Xc2V"
"""A GitHub token shape under a name that does not say so: only the scanner catches it."""

TINY_RUN = """
import pathlib, sys
import runstream

with runstream.init(project="light", name="tiny", config={"lr": 0.1}, seed=0) as run:
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
report = run.report
assert report is not None and report.status == "finished", report
assert report.points == 3 and report.complete, report
assert run.settings.mode == "embedded"
segments = list((pathlib.Path(sys.argv[1]) / "spool" / "local").glob("*.seg"))
assert segments, "nothing spooled"
assert b"ghp_" not in b"".join(path.read_bytes() for path in segments), "a token was spooled"
print("ok")
"""

LIST = """
import importlib.metadata, re
dists = importlib.metadata.distributions()
names = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in dists}
print(" ".join(sorted(names - {"pip", "setuptools"})))
"""

FIND = """
import importlib.util, sys
print(" ".join(name for name in sys.argv[1:] if importlib.util.find_spec(name) is not None))
"""

uv = shutil.which("uv")
pytestmark = pytest.mark.skipif(uv is None, reason="needs uv (builds the fresh venv)")


def _env(**values: str) -> dict[str, str]:
    """This environment without any venv, path or runstream setting of the test process."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in drop and not key.startswith("RUNSTREAM_")
    }
    return {**env, **values}


def _site_packages_bytes(venv: Path) -> int:
    [site] = venv.glob("lib/python*/site-packages")
    return sum(path.lstat().st_size for path in site.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert uv is not None
    root = tmp_path_factory.mktemp("base-install")
    # Build from a copy, like the Dockerfile: setuptools writes build/ and *.egg-info
    # next to the sources, which must not land in the checkout.
    source = root / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("producer", "processors"):
        shutil.copytree(
            REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    venv = root / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True, env=_env(), timeout=120)  # fmt: skip
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         str(source), "-c", str(CONSTRAINTS)],
        check=True, env=_env(), timeout=240,
    )  # fmt: skip
    return venv


def test_a_tiny_run_works_in_embedded_mode(base_venv: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = subprocess.run(
        [str(base_venv / "bin" / "python"), "-c", TINY_RUN, str(data)],
        cwd=tmp_path, env=_env(RUNSTREAM_DIR=str(data), GH_PAT=PLANTED_TOKEN),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_base_install_holds_only_what_the_sdk_needs(base_venv: Path) -> None:
    listing = subprocess.run(
        [str(base_venv / "bin" / "python"), "-c", LIST],
        env=_env(), capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert set(listing.stdout.split()) == BASE_DISTRIBUTIONS


def test_none_of_the_processors_dependencies_is_installed(base_venv: Path) -> None:
    result = subprocess.run(
        [str(base_venv / "bin" / "python"), "-c", FIND, *NOT_IN_THE_BASE],
        env=_env(), capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.split() == []


def test_the_console_script_names_the_cli_extra(base_venv: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(base_venv / "bin" / "runstream"), "runs"],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "pip install 'runstream[cli]'" in line
    assert "Traceback" not in result.stderr


def test_the_base_install_stays_small(base_venv: Path) -> None:
    size = _site_packages_bytes(base_venv)
    assert size < BASE_BUDGET_BYTES, f"site-packages holds {size / 2**20:.1f} MiB"
