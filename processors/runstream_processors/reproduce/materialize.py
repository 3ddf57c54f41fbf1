"""Rebuild what a run recorded in a fresh directory: code, environment, data, variables.

* Code: a clone of the repository at the recorded commit (from the recorded top directory,
  else the remote) with the stored uncommitted diff and untracked files applied; outside git,
  the stored snapshot of the entry script and its local modules.
* Environment: the current interpreter when its packages are the recorded ones; with
  ``venv=True``, a virtual environment of the exact versions built by uv from the run's
  requirements lock; else the current one, with the packages that differ named.
* Data: every recorded dataset version written, verified by SHA-256, at its recorded place
  (a root relative to the working directory lands under the new working directory) from the
  artifact store, or copied from its original place where the bytes there still match.
* Variables: the recorded determinism variables (``PYTHONHASHSEED``,
  ``CUBLAS_WORKSPACE_CONFIG``, thread counts), ``RUNSTREAM_REPRODUCES`` naming the original
  run, and ``RUNSTREAM_DIR`` so the new run lands in the same store.

The recorded command line is mapped into the new directory (paths under the original code
root point at the copy) and run with the recorded interpreter replaced.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runstream.errors import RunstreamError
from runstream.settings import Settings

from .. import queries
from ..errors import ReproduceError
from .fetch import content_row, fetch_to, read_bytes

Row = dict[str, Any]

VARIABLES = (
    "CUBLAS_WORKSPACE_CONFIG",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "TF_DETERMINISTIC_OPS",
)
"""Recorded environment variables a reproduction sets again: they change results. The rest
(PATH, HOME, credentials) belong to the machine, not to the experiment."""
_IGNORED_PACKAGES = {"runstream"}
"""The tracker itself: a newer runstream does not change what the training computes."""


@dataclass(frozen=True)
class Recorded:
    """What a reproduction needs from the store, read before the store is closed."""

    detail: Row
    datasets: list[Row]
    packages: dict[str, str]
    code_diff: Row | None
    snapshot: Row | None
    requirements: Row | None


@dataclass
class Reproduction:
    out: Path
    workdir: Path
    command: list[str]
    variables: dict[str, str]
    """Set for the command on top of the current environment."""
    environment: str
    """Which interpreter, and why."""
    notes: list[str] = field(default_factory=list)
    """What could not be rebuilt exactly; empty when everything was."""


def gather(client: Any, run_id: str) -> Recorded:
    detail = queries.run_detail(client, run_id)

    def newest(kind: str, name: str | None = None) -> Row | None:
        found = [
            row
            for row in queries.artifacts_of_kind(client, run_id, kind)
            if name is None or row["name"] == name
        ]
        return found[0] if found else None

    diff = None
    if detail.get("git_diff_sha256"):
        diff = next(
            (
                row
                for row in queries.artifacts_of_kind(client, run_id, "code-diff")
                if row["sha256"] == detail["git_diff_sha256"]
            ),
            None,
        )
    return Recorded(
        detail=detail,
        datasets=queries.run_datasets(client, run_id),
        packages={row["name"].lower(): row["version"] for row in queries.packages(client, run_id)},
        code_diff=diff,
        snapshot=newest("code-snapshot", "code.tar.gz"),
        requirements=newest("requirements", "requirements.txt"),
    )


def materialize(settings: Settings, recorded: Recorded, out: Path, venv: bool) -> Reproduction:
    """Rebuild the run in ``out`` (which must not exist, or be empty)."""
    if out.exists() and any(out.iterdir()):
        raise ReproduceError(f"{out} is not empty: give a new directory with --out")
    out = out.resolve()
    notes: list[str] = []
    detail = recorded.detail
    code_root = _code(settings, recorded, out, notes)
    recorded_wd = detail.get("working_dir") or ""
    workdir = _mapped_dir(recorded_wd, code_root, out)
    workdir.mkdir(parents=True, exist_ok=True)
    moved: dict[str, Path] = {}  # absolute dataset roots outside the code → restored copy
    for dataset in recorded.datasets:
        _data(settings, dataset, (recorded_wd, workdir, code_root, out), moved, notes)
    python, environment = _interpreter(settings, recorded, out, venv, notes)
    command = list(detail.get("command") or [])
    if not command:
        raise ReproduceError("the run recorded no command line")
    roots = [*moved.items(), (code_root, out), (recorded_wd, workdir)]
    mapped = [_mapped_arg(arg, roots) for arg in command[1:]]
    reproduction = Reproduction(
        out=out,
        workdir=workdir,
        command=[python, *mapped],
        variables=_variables(settings, detail),
        environment=environment,
        notes=notes,
    )
    _write_script(reproduction)
    return reproduction


# -- code ------------------------------------------------------------------------------------


def _git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, timeout=600, check=False
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise ReproduceError(f"git {args[0]} failed: {' '.join(message[-3:])}")
    return done.stdout.decode(errors="replace")


def _has_commit(repository: str, commit: str) -> bool:
    if not repository or not Path(repository).is_dir():
        return False
    done = subprocess.run(
        ["git", "cat-file", "-e", f"{commit}^{{commit}}"],
        cwd=repository,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0


def _code(settings: Settings, recorded: Recorded, out: Path, notes: list[str]) -> str:
    """Write the code into ``out``; returns the original directory it stood for."""
    detail = recorded.detail
    commit = detail.get("git_commit") or ""
    if commit:
        top = detail.get("git_toplevel") or ""
        source = top if _has_commit(top, commit) else detail.get("git_remote") or ""
        if not source:
            raise ReproduceError(
                f"commit {commit[:12]} is not in {top or 'a known repository'} and the run "
                "recorded no remote"
            )
        _git("clone", "--quiet", "--no-checkout", source, str(out))
        branch = detail.get("git_branch") or ""
        if branch and branch != "HEAD":  # the recorded branch name, at the recorded commit
            _git("checkout", "--quiet", "-B", branch, commit, cwd=out)
        else:
            _git("checkout", "--quiet", "--detach", commit, cwd=out)
        _git("remote", "remove", "origin", cwd=out)  # the remote the run recorded, not ours
        if detail.get("git_remote"):
            _git("remote", "add", "origin", str(detail["git_remote"]), cwd=out)
        if detail.get("git_dirty") and recorded.code_diff is None:
            notes.append("the tree was dirty but its diff was not recorded: code at the commit")
        if recorded.code_diff is not None:
            if (recorded.code_diff.get("metadata") or {}).get("truncated") == "true":
                notes.append("the uncommitted diff was truncated when recorded: code is partial")
            _apply(read_bytes(settings, recorded.code_diff), out, notes)
        exclude = out / ".git" / "info" / "exclude"  # what runstream adds is not the run's code
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a") as ignored:
            ignored.write("\n/reproduce.sh\n/.venv/\n/.runstream-requirements.txt\n/datasets/\n")
        return str(top)
    if recorded.snapshot is not None:
        archive = read_bytes(settings, recorded.snapshot)
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(out, filter="data")
        metadata = recorded.snapshot.get("metadata") or {}
        if metadata.get("complete") == "false":
            notes.append("the code snapshot was incomplete (over its size bound)")
        return str(metadata.get("root", ""))
    raise ReproduceError("the run recorded no code (no git commit, no snapshot)")


def _apply(patch: bytes, out: Path, notes: list[str]) -> None:
    """Apply the recorded diff; files it lists by hash only are named in ``notes``."""
    sections = patch.split(b"\ndiff --git ")
    kept: list[bytes] = []
    for index, section in enumerate(sections):
        text = section if index == 0 else b"diff --git " + section
        lines = text.split(b"\n")
        listed = [line for line in lines if line.startswith(b"# runstream: untracked ")]
        for line in listed:
            notes.append(line[len(b"# runstream: ") :].decode(errors="replace"))
        lines = [line for line in lines if not line.startswith(b"# runstream: ")]
        text = b"\n".join(lines)
        if b"\nBinary files /dev/null and b/" in text and b"GIT binary patch" not in text:
            name = text.split(b"\n", 1)[0].rsplit(b" b/", 1)[-1].decode(errors="replace")
            notes.append(f"untracked binary {name} was recorded by hash only: not restored")
            continue
        if text.strip():
            kept.append(text)
    if not kept:
        return
    joined = b"\n".join(kept)
    if not joined.endswith(b"\n"):
        joined += b"\n"
    _git("apply", "--whitespace=nowarn", "-", cwd=out, stdin=joined)


# -- paths -----------------------------------------------------------------------------------


def _under(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` when under it ("" for the root itself), else None."""
    if not root or not os.path.isabs(path):
        return None
    try:
        relative = Path(path).relative_to(root)
    except ValueError:
        return None
    return relative.as_posix() if str(relative) != "." else ""


def _mapped_dir(recorded: str, code_root: str, out: Path) -> Path:
    relative = _under(recorded, code_root)
    return out / relative if relative else out


def _mapped_arg(arg: str, roots: list[tuple[str, Path]]) -> str:
    """An argument that names a path under a moved root (a dataset restored elsewhere, the
    code root, the working directory) names the same place in the reproduction."""
    for root, target in roots:
        relative = _under(arg, root)
        if relative is not None:
            return str(target / relative) if relative else str(target)
    return arg


# -- data ------------------------------------------------------------------------------------


def _data(
    settings: Settings,
    dataset: Row,
    places: tuple[str, Path, str, Path],
    moved: dict[str, Path],
    notes: list[str],
) -> None:
    """Write one dataset version, verified, where the reproduction reads it."""
    recorded_wd, workdir, code_root, out = places
    root = str(dataset["root"])
    original = Path(root) if os.path.isabs(root) else Path(recorded_wd) / root
    if not os.path.isabs(root):
        target = workdir / root
    elif (relative := _under(root, code_root)) is not None:
        target = out / relative
    else:  # outside the code: restored inside, and arguments naming it follow
        target = out / "datasets" / str(dataset["name"])
        moved[root] = target
        notes.append(f"dataset {dataset['name']} lay at {root}: restored into {target}")
    missing = []
    for path, size, sha256 in zip(
        dataset["paths"], dataset["sizes"], dataset["digests"], strict=True
    ):
        destination = target / path
        try:
            fetch_to(settings, content_row(settings, sha256, int(size)), destination)
            continue
        except (RunstreamError, OSError):
            pass
        try:
            row = {"sha256": sha256, "size_bytes": int(size), "uri": (original / path).as_uri()}
            fetch_to(settings, row, destination)  # the original file, if its bytes still match
        except (RunstreamError, OSError):
            missing.append(path)
    if missing:
        raise ReproduceError(
            f"dataset {dataset['name']} version {dataset['version']}: {len(missing)} files are "
            f"neither stored nor unchanged at {original} (e.g. {missing[0]}); log it with "
            "run.log_dataset(..., store=True) to make it reproducible"
        )


# -- environment -----------------------------------------------------------------------------


def installed_packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name and name.lower() not in found:
            found[name.lower()] = distribution.version
    return found


def package_changes(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """``name recorded -> current`` for each package that differs (the tracker aside)."""
    names = (set(recorded) | set(current)) - _IGNORED_PACKAGES
    return [
        f"{name} {recorded.get(name, '(absent)')} -> {current.get(name, '(absent)')}"
        for name in sorted(names)
        if recorded.get(name) != current.get(name)
    ]


def _interpreter(
    settings: Settings, recorded: Recorded, out: Path, venv: bool, notes: list[str]
) -> tuple[str, str]:
    changes = package_changes(recorded.packages, installed_packages())
    if not changes and not venv:
        return sys.executable, f"the current interpreter {sys.executable}: its packages match"
    if not venv:
        notes.append(
            f"{len(changes)} packages differ from the run's ({'; '.join(changes[:5])}); "
            "pass --venv to build the recorded environment"
        )
        return sys.executable, f"the current interpreter {sys.executable} (packages differ)"
    if recorded.requirements is None:
        raise ReproduceError("the run recorded no requirements lock to build a venv from")
    uv = shutil.which("uv")
    if uv is None:
        raise ReproduceError("building the recorded environment needs uv on PATH")
    lock = out / ".runstream-requirements.txt"
    lock.write_bytes(read_bytes(settings, recorded.requirements))
    target = out / ".venv"
    python_version = recorded.detail.get("python_version") or ""
    for args in (
        [
            uv,
            "venv",
            "--quiet",
            str(target),
            *(["--python", python_version] if python_version else []),
        ],
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(target / "bin" / "python"),
            "-r",
            str(lock),
        ],
    ):
        done = subprocess.run(args, capture_output=True, text=True, timeout=3600, check=False)
        if done.returncode != 0:
            raise ReproduceError(f"{' '.join(args[:3])} failed: {done.stderr.strip()[-500:]}")
    return str(
        target / "bin" / "python"
    ), f"a virtual environment of the recorded packages: {target}"


def _variables(settings: Settings, detail: Row) -> dict[str, str]:
    determinism = detail.get("determinism") or {}
    recorded = detail.get("environment_variables") or {}
    variables = {name: recorded[name] for name in VARIABLES if name in recorded}
    hash_seed = determinism.get("python.hash_seed")
    if hash_seed and hash_seed != "random":
        variables["PYTHONHASHSEED"] = hash_seed
    variables["RUNSTREAM_REPRODUCES"] = str(detail["run_id"])
    variables["RUNSTREAM_DIR"] = str(settings.root)
    return variables


def _write_script(reproduction: Reproduction) -> None:
    """``reproduce.sh`` in the directory: the same re-run, by hand."""
    import shlex

    lines = ["#!/bin/sh", "# Re-run the recorded command (written by `runstream reproduce`)."]
    lines.append(f"cd {shlex.quote(str(reproduction.workdir))}")
    lines += [
        f"export {name}={shlex.quote(value)}" for name, value in reproduction.variables.items()
    ]
    lines.append(f"exec {shlex.join(reproduction.command)}")
    script = reproduction.out / "reproduce.sh"
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
