"""What init records so a run can be rebuilt: the requirements lock, the code snapshot
outside git, strict_code's refusal, and the determinism warning."""

from __future__ import annotations

import importlib
import io
import shutil
import subprocess
import sys
import tarfile
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import runstream
from packaging.requirements import Requirement
from runstream.capture.requirements import requirements_lock
from runstream.capture.snapshot import snapshot
from runstream.errors import DeterminismWarning, UnreproducibleCodeError
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb


def test_the_requirements_lock_pins_every_package_in_a_form_resolvers_parse() -> None:
    lines = [line for line in requirements_lock().decode().splitlines() if line and line[0] != "#"]
    requirements = {Requirement(line).name.lower(): Requirement(line) for line in lines}
    import google.protobuf

    assert str(requirements["protobuf"].specifier) == f"=={google.protobuf.__version__}"
    assert requirements["runstream"].url, "an editable install is named by its source"
    assert len(requirements) == len(lines) > 10


def test_the_snapshot_holds_the_script_and_its_local_modules_in_fixed_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "train.py").write_text("import pkg.model\n")
    (code / "pkg" / "__init__.py").write_text("")
    token = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"
    (code / "pkg" / "model.py").write_text(f'WIDTH = 3\nTOKEN = "{token}"\n')
    (code / "unused.py").write_text("never imported\n")
    monkeypatch.syspath_prepend(str(code))
    importlib.import_module("pkg.model")
    try:
        first = snapshot(code / "train.py")
        again = snapshot(code / "train.py")
    finally:
        for name in ("pkg.model", "pkg"):
            sys.modules.pop(name, None)
    assert first.files == ("pkg/__init__.py", "pkg/model.py", "train.py")
    assert first.complete and first.entry == "train.py"
    assert first.archive == again.archive
    with tarfile.open(fileobj=io.BytesIO(first.archive), mode="r:gz") as archive:
        member = archive.extractfile("pkg/model.py")
        assert member is not None
        scrubbed = member.read().decode()
    assert scrubbed.startswith("WIDTH = 3\n") and token not in scrubbed  # scanned like a diff


def test_a_script_outside_git_records_its_snapshot(
    runstream_dir: Settings,
    tmp_path: Path,
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
) -> None:
    script = tmp_path / "alone.py"
    script.write_text(
        "import runstream\n"
        "runstream.init(project='t', seed=1, system_interval=None, capture_env=False).finish()\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "RUNSTREAM_DIR": str(runstream_dir.root),
            "HOME": str(tmp_path),
        },
    )
    assert done.returncode == 0, done.stderr
    envelopes = read_envelopes(runstream_dir)
    [artifact] = [e.artifact for e in envelopes if e.WhichOneof("payload") == "artifact"]
    assert (artifact.name, artifact.kind) == ("code.tar.gz", "code-snapshot")
    assert artifact.metadata["entry"] == "alone.py"
    assert artifact.metadata["root"] == str(tmp_path.resolve())
    assert not envelopes[0].run_started.HasField("git")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True)


def test_strict_code_refuses_code_that_could_not_be_rebuilt(
    runstream_dir: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_run: Callable[..., runstream.Run],
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    (repo / "train.py").write_text("print(1)\n")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@e.invalid", "commit", "-qm", "one")
    monkeypatch.chdir(repo)
    start_run(capture_code=True, strict_code=True).finish()  # committed code: rebuildable

    (repo / "weights.bin").write_bytes(b"\0\1\2\3")  # untracked binary: listed by hash only
    with pytest.raises(UnreproducibleCodeError, match=r"weights\.bin"):
        start_run(capture_code=True, strict_code=True)
    assert runstream.active_run() is None
    start_run(capture_code=True).finish()  # without strict_code the run starts


def test_init_warns_when_the_run_is_not_deterministic_and_records_why(
    start_run: Callable[..., runstream.Run],
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    runstream_dir: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    with pytest.warns(DeterminismWarning, match="no seed") as caught:
        start_run(capture_env=True).finish()
    assert "PYTHONHASHSEED" in str(caught[0].message)
    recorded = read_envelopes(runstream_dir)[0].run_started.environment.determinism
    assert "no seed" in recorded["nondeterministic"]

    monkeypatch.setenv("PYTHONHASHSEED", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeterminismWarning)
        start_run(capture_env=True, warn_nondeterministic=False).finish()
        if "torch" not in sys.modules:  # with torch imported its own settings are judged too
            start_run(capture_env=True, seed=3).finish()


def test_uv_accepts_the_lock_for_this_interpreter(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (deploy/local/setup.sh installs it)")
    lock = str(tmp_path / "requirements.txt")
    Path(lock).write_bytes(requirements_lock())
    done = subprocess.run(
        [uv, "pip", "install", "--dry-run", "--offline", "--python", sys.executable, "-r", lock],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Would install" in done.stderr or "Audited" in done.stderr, done.stderr
