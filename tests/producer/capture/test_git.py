"""Git capture against real repositories made in tmp_path: commit, branch, dirty flag, diff."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
import runstream
from runstream.capture.git import capture_git
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, text=True)
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user/system git config, and no discovery of a repository above tmp_path."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for variable in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on branch ``main`` with one commit of ``train.py``."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.invalid")
    (root / "train.py").write_text("lr = 0.1\nepochs = 3\n")
    git(root, "add", "train.py")
    git(root, "commit", "--quiet", "-m", "first")
    return root


def test_a_clean_checkout(repo: Path) -> None:
    state = capture_git(repo)
    assert state is not None
    assert state.commit == git(repo, "rev-parse", "HEAD")
    assert len(state.commit) == 40
    assert state.branch == "main"
    assert state.remote == ""
    assert state.dirty is False
    assert state.diff == b""
    assert state.diff_truncated is False


def test_a_subdirectory_reports_the_whole_repository(repo: Path) -> None:
    (repo / "src").mkdir()
    state = capture_git(repo / "src")
    assert state is not None and state.commit == git(repo, "rev-parse", "HEAD")


def test_uncommitted_changes_make_it_dirty_and_the_diff_records_them(repo: Path) -> None:
    (repo / "train.py").write_text("lr = 0.2\nepochs = 3\n")
    state = capture_git(repo)
    assert state is not None
    assert state.dirty is True
    assert (
        state.diff
        == subprocess.run(
            ["git", "diff", "HEAD", "--binary"], cwd=repo, capture_output=True, check=True
        ).stdout
    )
    assert b"-lr = 0.1\n" in state.diff and b"+lr = 0.2\n" in state.diff


def test_staged_changes_are_in_the_diff_too(repo: Path) -> None:
    (repo / "model.py").write_text("depth = 50\n")
    git(repo, "add", "model.py")
    state = capture_git(repo)
    assert state is not None and state.dirty
    assert b"+depth = 50" in state.diff


def test_ignored_files_are_not_part_of_the_snapshot(repo: Path) -> None:
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "--quiet", "-m", "ignore logs")
    (repo / "train.log").write_text("noise")
    state = capture_git(repo)
    assert state is not None
    assert state.dirty is False and state.diff == b""


def test_untracked_text_files_join_the_diff_as_new_files(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("lr = 0.2\nepochs = 3\n")
    (repo / "src").mkdir()
    (repo / "src" / "model.py").write_text("depth = 50\nwidth = 2")
    (repo / "empty.txt").write_text("")
    state = capture_git(repo)
    assert state is not None and state.dirty
    assert b"+lr = 0.2\n" in state.diff
    assert b"diff --git a/src/model.py b/src/model.py\nnew file mode 100644\n" in state.diff
    assert b"+depth = 50\n+width = 2\n\\ No newline at end of file\n" in state.diff
    # The snapshot applies: HEAD plus the diff is the working tree.
    copy = tmp_path / "copy"
    git(tmp_path, "clone", "--quiet", str(repo), str(copy))
    patch = tmp_path / "snapshot.patch"
    patch.write_bytes(state.diff)
    git(copy, "apply", str(patch))
    assert (copy / "src" / "model.py").read_text() == "depth = 50\nwidth = 2"
    assert (copy / "train.py").read_text() == "lr = 0.2\nepochs = 3\n"
    assert (copy / "empty.txt").read_text() == ""


def test_untracked_files_alone_make_it_dirty(repo: Path) -> None:
    (repo / "notes.txt").write_text("scratch\n")
    state = capture_git(repo)
    assert state is not None and state.dirty
    assert b"+++ b/notes.txt\n@@ -0,0 +1,1 @@\n+scratch\n" in state.diff


def test_untracked_binaries_and_large_files_are_listed_by_hash_only(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runstream.capture.git as capture

    monkeypatch.setattr(capture, "MAX_UNTRACKED_FILE_BYTES", 100)
    monkeypatch.setattr(capture, "MAX_UNTRACKED_BYTES", 150)
    (repo / "weights.bin").write_bytes(b"\0\1\2" * 10)
    (repo / "big.txt").write_text("x" * 101)
    (repo / "a.txt").write_text("a" * 90)
    (repo / "b.txt").write_text("b" * 90)  # over the total once a.txt is in
    state = capture_git(repo)
    assert state is not None
    blob = git(repo, "hash-object", "weights.bin")[:12].encode()
    assert b"index 0000000..%s\nBinary files /dev/null and b/weights.bin differ" % blob in (
        state.diff
    )
    assert b"Binary files /dev/null and b/big.txt differ" in state.diff
    assert b"+" + b"a" * 90 in state.diff
    assert b"Binary files /dev/null and b/b.txt differ" in state.diff
    assert b"\0" not in state.diff and b"x" * 101 not in state.diff


def test_secrets_in_untracked_files_are_scrubbed(repo: Path) -> None:
    password = "Zq8vN2rT5wXy"
    (repo / "settings.py").write_text(f'db_password = "{password}"\nepochs = 3\n')
    state = capture_git(repo)
    assert state is not None
    assert password.encode() not in state.diff and state.redacted >= 1
    assert b"+epochs = 3\n" in state.diff


def test_the_repository_is_found_from_the_entry_script_not_the_cwd(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runstream.capture.git import capture_run_code

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr("sys.argv", [str(repo / "train.py"), "--lr", "0.1"])
    state = capture_run_code()
    assert state is not None and state.commit == git(repo, "rev-parse", "HEAD")
    monkeypatch.setattr("sys.argv", ["-c"])
    monkeypatch.delattr("__main__.__file__", raising=False)
    assert capture_run_code() is None  # the cwd is no repository
    monkeypatch.chdir(repo)
    assert capture_run_code() is not None


def test_a_new_commit_is_seen(repo: Path) -> None:
    first = capture_git(repo)
    (repo / "train.py").write_text("lr = 0.3\n")
    git(repo, "commit", "--quiet", "-am", "second")
    second = capture_git(repo)
    assert first is not None and second is not None
    assert second.commit != first.commit
    assert second.commit == git(repo, "rev-parse", "HEAD")
    assert not second.dirty


def test_credentials_in_the_remote_url_are_removed(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://alice:ghp_secret123@github.com/org/repo.git")
    state = capture_git(repo)
    assert state is not None
    assert state.remote == "https://github.com/org/repo.git"


def test_outside_a_repository_there_is_nothing(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert capture_git(plain) is None


def test_init_records_the_commit_and_stores_the_diff_as_an_artifact(
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_run: Callable[..., runstream.Run],
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    runstream_dir: Settings,
) -> None:
    (repo / "train.py").write_text("lr = 0.2\nepochs = 3\n")
    expected_diff = subprocess.run(
        ["git", "diff", "HEAD", "--binary"], cwd=repo, capture_output=True, check=True
    ).stdout
    monkeypatch.chdir(repo)
    start_run(capture_code=True).finish()

    envelopes = read_envelopes(runstream_dir)
    info = envelopes[0].run_started.git
    assert (info.commit, info.branch, info.dirty) == (git(repo, "rev-parse", "HEAD"), "main", True)
    assert info.diff_sha256 == hashlib.sha256(expected_diff).hexdigest()

    [diff] = [e.artifact for e in envelopes if e.WhichOneof("payload") == "artifact"]
    assert (diff.kind, diff.sha256, diff.size_bytes) == (
        "code-diff",
        info.diff_sha256,
        len(expected_diff),
    )
    stored = Path(url2pathname(urlsplit(diff.uri).path))
    assert stored.is_relative_to(runstream_dir.artifacts_dir)
    assert stored.read_bytes() == expected_diff


def test_init_outside_a_repository_records_no_git_info(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_run: Callable[..., runstream.Run],
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    runstream_dir: Settings,
) -> None:
    monkeypatch.chdir(tmp_path)
    start_run(capture_code=True).finish()
    started = read_envelopes(runstream_dir)[0].run_started
    assert not started.HasField("git")
