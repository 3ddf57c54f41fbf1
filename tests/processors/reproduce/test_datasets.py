"""``run.log_dataset`` end to end: manifest and version, the hash cache, content storage,
and ``runstream datasets list|show|diff`` on the real embedded store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import runstream
from click.testing import CliRunner, Result
from runstream.artifacts import LocalArtifactStore
from runstream.datasets import HashCache, build_manifest
from runstream.settings import Settings
from runstream_processors.cli.main import cli


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def write_data(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def log(root: Path, run_name: str, **options: object) -> str:
    with runstream.init(project="data", name=run_name, seed=1, system_interval=None) as run:
        version = run.log_dataset(root, name="corpus", role="train", **options)  # type: ignore[arg-type]
    return version


def test_versions_manifests_diffs_and_the_runs_that_used_them(
    runstream_dir: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = write_data(
        tmp_path / "corpus", {"a.txt": b"alpha\n", "sub/b.bin": b"\0\1\2", ".hidden": b"x"}
    )
    first = log(Path("corpus"), "first", store=True)
    second = log(Path("corpus"), "second", store=True)  # unchanged: same version
    assert first == second and len(first) == 16

    (data / "a.txt").write_bytes(b"alpha, edited\n")
    (data / "sub" / "b.bin").unlink()
    (data / "c.txt").write_text("new\n")
    third = log(data, "third", store=True)
    assert third != first

    listed = json.loads(invoke("datasets", "list", "--format", "json").output)
    assert [(row["name"], row["version"], row["runs"], row["files"]) for row in listed] == [
        ("corpus", first, 2, 2),
        ("corpus", third, 1, 2),
    ]
    assert listed[0]["role"] == "train" and listed[0]["stored"] is True

    shown = json.loads(invoke("datasets", "show", f"corpus@{first[:6]}", "--format", "json").output)
    assert [(f["path"], f["size_bytes"]) for f in shown["files"]] == [
        ("a.txt", 6),
        ("sub/b.bin", 3),
    ]
    assert [run["run"] for run in shown["runs"]] == ["first", "second"]
    assert shown["dataset"]["root"] == "corpus"  # relative to the working directory

    diff = json.loads(invoke("datasets", "diff", "corpus", "--format", "json").output)
    assert (diff["from"], diff["to"]) == (first, third)
    assert (diff["added"], diff["removed"], diff["modified"]) == (
        ["c.txt"],
        ["sub/b.bin"],
        ["a.txt"],
    )
    explicit = invoke("datasets", "diff", "corpus", third, first).output
    assert "1 added, 1 removed, 1 modified" in explicit and "sub/b.bin" in explicit

    # Stored by content: both versions' files are in the local store, with their bytes.
    store = LocalArtifactStore(runstream_dir.artifacts_dir)
    newest = json.loads(invoke("datasets", "show", "corpus", "--format", "json").output)
    assert newest["dataset"]["version"] == third
    contents = {b"alpha\n", b"\0\1\2", b"alpha, edited\n", b"new\n"}
    stored = {store.path_for(f["sha256"]).read_bytes() for f in shown["files"] + newest["files"]}
    assert stored == contents


def test_the_hash_cache_skips_unchanged_files_and_notices_changed_ones(tmp_path: Path) -> None:
    data = write_data(tmp_path / "d", {f"f{i}": bytes([i]) * 1000 for i in range(20)})
    cache_file = tmp_path / "cache.json"
    hashed: list[Path] = []

    def counting(path: Path) -> tuple[str, int]:
        from runstream.artifacts import sha256_of

        hashed.append(path)
        return sha256_of(path)

    first = build_manifest(data, HashCache(cache_file), counting)
    assert len(hashed) == 20
    hashed.clear()
    again = build_manifest(data, HashCache(cache_file), counting)
    assert hashed == [] and again.version == first.version

    changed = data / "f3"
    changed.write_bytes(b"other")
    os.utime(changed, ns=(1, 1))  # a new mtime and size: hashed again
    third = build_manifest(data, HashCache(cache_file), counting)
    assert hashed == [changed] and third.version != first.version


def test_a_missing_path_is_counted_not_raised(runstream_dir: Settings, tmp_path: Path) -> None:
    with (
        runstream.init(project="data", name="missing", seed=1, system_interval=None) as run,
        pytest.warns(runstream.TrackingWarning, match="no such file"),
    ):
        assert run.log_dataset(tmp_path / "nope", name="x") == ""
    assert run.report is not None
    assert any("dataset path" in reason for reason in run.report.not_recorded)
