"""``runstream reproduce RUN --out DIR --run`` rebuilds a run whose code and data changed
after it ran, re-runs it as a new run linked to the original, and gets the same metrics bit
for bit: the example training run inside a git repository, and a script outside git."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from real_services import S3Endpoint
from runstream.settings import Settings
from runstream_processors import queries
from runstream_processors.reproduce.metrics import is_measured
from support.runs import store

REPO = Path(__file__).resolve().parents[3]
RUNSTREAM = str(Path(sys.executable).with_name("runstream"))


def sh(*command: str, cwd: Path) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def git(repo: Path, *args: str) -> None:
    sh("git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args, cwd=repo)


def points(settings: Settings, run_id: str) -> list[tuple[str, str, int, float]]:
    with store(settings) as client:
        return [
            (row["split"], row["key"], row["step"], row["value"])
            for row in queries.run_metric_points(client, run_id)
        ]


def run_id_of(settings: Settings, name: str) -> str:
    with store(settings) as client:
        return str(queries.resolve_run(client, name)["run_id"])


def reproduce(settings: Settings, run: str, out: Path, cwd: Path) -> dict[str, Any]:
    original = run_id_of(settings, run)
    found = json.loads(
        sh(RUNSTREAM, "reproduce", run, "--out", str(out), "--run", "--format", "json", cwd=cwd)
    )
    trained = [row for row in found["metrics"] if not row["measured"]]
    assert trained and all(row["identical"] for row in trained), found["metrics"]
    reproduced = found["run"]
    assert reproduced != original
    first, again = (
        [point for point in points(settings, run) if not is_measured(str(point[1]))]
        for run in (original, reproduced)
    )
    assert len(first) > 0 and first == again  # every point, bit for bit (float ==)
    with store(settings) as client:
        assert queries.reproductions(client, original)[0]["run_id"] == reproduced
    return found


def test_the_example_run_is_reproduced_after_its_code_and_data_changed(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    sh("git", "init", "--quiet", "--initial-branch=main", cwd=repo)
    shutil.copy(REPO / "examples" / "train_digits.py", repo)
    (repo / ".gitignore").write_text("data/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "the example")
    script = repo / "train_digits.py"
    # The run's code: the commit, an uncommitted edit and an untracked file.
    script.write_text(script.read_text().replace("default=0.1)", "default=0.2)"))
    (repo / "NOTES.md").write_text("dropout 0.2 for this run\n")
    arguments = ("--name", "original", "--epochs", "1", "--batch-size", "128", "--data", "data")
    sh(sys.executable, "train_digits.py", *arguments, cwd=repo)
    ran_code = script.read_bytes()
    data = repo / "data" / "digits.csv"
    ran_data = hashlib.sha256(data.read_bytes()).hexdigest()

    # Afterwards: another edit, another untracked file, fewer and changed rows of data.
    script.write_text(script.read_text().replace("nn.ReLU(),", "nn.Tanh(),", 1))
    (repo / "scratch.py").write_text("print('not part of the run')\n")
    rows = data.read_text().splitlines()
    data.write_text("\n".join(rows[:-100]).replace(",0,", ",1,", 5) + "\n")

    out = tmp_path / "again"
    found = reproduce(runstream_dir, "original", out, tmp_path)
    assert (out / "train_digits.py").read_bytes() == ran_code
    assert (out / "NOTES.md").read_text() == "dropout 0.2 for this run\n"
    assert not (out / "scratch.py").exists()
    assert hashlib.sha256((out / "data" / "digits.csv").read_bytes()).hexdigest() == ran_data
    difference = found["diff"]
    assert "code" not in difference and "data" not in difference and "params" not in difference
    assert "environment" not in difference, difference
    assert found["reproduction"]["not exact"] == "nothing"

    changed = json.loads(sh(RUNSTREAM, "datasets", "list", "--format", "json", cwd=tmp_path))
    assert [(row["name"], row["runs"]) for row in changed] == [("digits", 2)]


TINY = """
import sys
from pathlib import Path

import runstream
from helpers import scale

with runstream.init(project="tiny", name=sys.argv[1], seed=7, system_interval=None) as run:
    run.log_dataset("inputs", name="inputs", role="train", store=True)
    numbers = [float(line) for line in Path("inputs/numbers.txt").read_text().split()]
    for step, number in enumerate(numbers):
        run.log({"value": scale(number) / 3.0}, step=step)
"""


def test_a_run_outside_git_is_reproduced_from_its_code_snapshot(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    (work / "inputs").mkdir(parents=True)
    (work / "train.py").write_text(TINY)
    (work / "helpers.py").write_text("def scale(x):\n    return x * 1.1\n")
    (work / "inputs" / "numbers.txt").write_text("1\n2\n3.5\n")
    sh(sys.executable, "train.py", "tiny", cwd=work)
    (work / "helpers.py").write_text("def scale(x):\n    return x * 2\n")
    (work / "inputs" / "numbers.txt").write_text("9\n")

    out = tmp_path / "again"
    found = reproduce(runstream_dir, "tiny", out, tmp_path)
    assert (out / "helpers.py").read_text() == "def scale(x):\n    return x * 1.1\n"
    assert (out / "inputs" / "numbers.txt").read_text() == "1\n2\n3.5\n"
    assert len(found["metrics"]) == 1 and found["metrics"][0]["points_original"] == 3
    assert "data" not in found["diff"] and "code" not in found["diff"]


def test_without_run_it_materializes_and_writes_the_command(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    (work / "inputs").mkdir(parents=True)
    (work / "train.py").write_text(TINY)
    (work / "helpers.py").write_text("def scale(x):\n    return x\n")
    (work / "inputs" / "numbers.txt").write_text("4\n")
    sh(sys.executable, "train.py", "plain", cwd=work)
    out = tmp_path / "materialized"
    printed = sh(RUNSTREAM, "reproduce", "plain", "--out", str(out), cwd=tmp_path)
    assert "reproduce.sh" in printed
    script = (out / "reproduce.sh").read_text()
    assert "RUNSTREAM_REPRODUCES=" in script and "train.py" in script
    original = run_id_of(runstream_dir, "plain")
    with store(runstream_dir) as client:
        assert queries.reproductions(client, original) == []
    refused = subprocess.run(
        [RUNSTREAM, "reproduce", "plain", "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1 and "not empty" in refused.stderr


def test_code_and_data_come_back_from_the_bucket_when_the_local_store_is_gone(
    runstream_dir: Settings,
    tmp_path: Path,
    s3_endpoint: S3Endpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNSTREAM_S3_ENDPOINT", s3_endpoint.url)
    monkeypatch.setenv("RUNSTREAM_S3_ACCESS_KEY", s3_endpoint.access_key)
    monkeypatch.setenv("RUNSTREAM_S3_SECRET_KEY", s3_endpoint.secret_key)
    monkeypatch.setenv("RUNSTREAM_S3_BUCKET", s3_endpoint.bucket)
    work = tmp_path / "work"
    (work / "inputs").mkdir(parents=True)
    (work / "train.py").write_text(TINY)
    (work / "helpers.py").write_text("def scale(x):\n    return x - 0.5\n")
    numbers = "\n".join(str(n / 7) for n in range(40)) + "\n"
    (work / "inputs" / "numbers.txt").write_text(numbers)
    sh(sys.executable, "train.py", "teamed", cwd=work)  # finish() waits for the uploads
    shutil.rmtree(runstream_dir.artifacts_dir)  # another machine: only the bucket has them
    shutil.rmtree(work)

    out = tmp_path / "again"
    found = reproduce(runstream_dir, "teamed", out, tmp_path)
    assert (out / "inputs" / "numbers.txt").read_text() == numbers
    assert found["metrics"][0]["points_original"] == 40


ELSEWHERE = """
import sys
from pathlib import Path

import runstream

data = Path(sys.argv[2])
with runstream.init(project="tiny", name=sys.argv[1], seed=7, system_interval=None) as run:
    run.log_dataset(data, name="far", store=True)
    for step, line in enumerate((data / "numbers.txt").read_text().split()):
        run.log({"value": float(line) ** 0.5}, step=step)
"""


def test_data_outside_the_code_is_restored_inside_and_the_command_follows(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    work, far = tmp_path / "work", tmp_path / "far"
    work.mkdir()
    far.mkdir()
    (work / "train.py").write_text(ELSEWHERE)
    (far / "numbers.txt").write_text("2\n3\n5\n")
    sh(sys.executable, "train.py", "far", str(far), cwd=work)
    (far / "numbers.txt").write_text("7\n")

    out = tmp_path / "again"
    found = reproduce(runstream_dir, "far", out, tmp_path)
    restored = out / "datasets" / "far"
    assert (restored / "numbers.txt").read_text() == "2\n3\n5\n"
    assert str(restored) in found["reproduction"]["command"]
    assert (far / "numbers.txt").read_text() == "7\n"  # the original place is left alone
