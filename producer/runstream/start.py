"""``runstream.init``: capture everything about the run, then start recording in the background."""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import _active, _signals
from .artifacts import ArtifactSink, StoredArtifact, open_artifact_sink
from .capture.determinism import NONDETERMINISTIC_KEY, nondeterminism
from .capture.environment import capture_environment
from .capture.git import MAX_DIFF_BYTES, GitState, capture_run_code, entry_script
from .capture.requirements import requirements_lock
from .capture.seeds import determinism_settings, seed_everything
from .capture.snapshot import MAX_SNAPSHOT_BYTES, CodeSnapshot, snapshot
from .capture.system import SystemSampler
from .config import ParamValue, flatten_config, to_params
from .distributed import Placement, detect, shared_run_id
from .envelopes import EnvelopeFactory, fit_run_started, new_id
from .errors import DeterminismWarning, InvalidInputError, UnreproducibleCodeError
from .limits import MAX_NAME_LENGTH, MAX_TAG_LENGTH, project_problem, safe_text, text_problem
from .recorder import Recorder, RecorderOptions
from .redaction import COUNT_KEY, Scrubber
from .run import Run
from .settings import load_settings
from .transport import make_transport
from .wire import events_pb2 as pb


def init(
    project: str,
    name: str | None = None,
    *,
    config: object = None,
    tags: Sequence[str] = (),
    group: str = "",
    job_type: str = "",
    seed: int | None = None,
    notes: str = "",
    dir: str | os.PathLike[str] | None = None,
    capture_code: bool = True,
    capture_env: bool = True,
    system_interval: float | None = 15.0,
    heartbeat_interval: float = 10.0,
    flush_interval: float = 0.2,
    strict: bool | None = None,
    strict_code: bool = False,
    warn_nondeterministic: bool = True,
) -> Run:
    """Start a run and make it the active one.

    ``config`` (a dict, dataclass, argparse namespace or pydantic model) is
    flattened to typed dotted keys; ``group`` puts runs that belong together (a sweep, the
    ranks of one job, an ablation) side by side and ``job_type`` says what this one does
    there (``train``, ``eval``, ...); ``seed`` seeds python/numpy/torch and is
    recorded. Use the result as a context manager, or call ``finish()``. From the main
    thread, ``init`` also makes SIGTERM and SIGINT record the run as ``killed`` (see
    ``runstream._signals``: a handler installed before still runs, Ctrl-C still raises
    KeyboardInterrupt).

    ``init`` raises on invalid arguments. Later calls on the run count invalid input
    and warn (:class:`runstream.TrackingWarning`) instead of raising, so a stray value
    never ends a training job; ``strict=True`` (default: ``RUNSTREAM_STRICT``) raises.

    The code is recorded as its git state (commit, uncommitted diff and untracked files) or,
    outside git, as a snapshot of the entry script and the local modules it imported; the
    environment also as a requirements lock. ``strict_code=True`` raises
    :class:`runstream.errors.UnreproducibleCodeError` instead of starting a run whose code
    could not be rebuilt. A run that is not deterministic by construction (see
    :mod:`runstream.capture.determinism`) gets a :class:`runstream.errors.DeterminismWarning`
    and its reasons recorded, unless ``warn_nondeterministic=False``.
    """
    _active.ensure_none_active()
    run = _open(
        project,
        name,
        config=config,
        tags=tags,
        group=group,
        job_type=job_type,
        seed=seed,
        notes=notes,
        dir=dir,
        capture_code=capture_code,
        capture_env=capture_env,
        system_interval=system_interval,
        heartbeat_interval=heartbeat_interval,
        flush_interval=flush_interval,
        strict=strict,
        placement=detect(),
        strict_code=strict_code,
        warn_nondeterministic=warn_nondeterministic,
    )
    _active.activate(run)
    _signals.install()
    run._recorder.start()
    return run


def open_detached(
    project: str,
    name: str,
    *,
    config: object = None,
    group: str = "",
    job_type: str = "",
    dir: str | os.PathLike[str] | None = None,
    strict: bool | None = None,
) -> Run:
    """A run that is not this process's active run: a sweep's own record, open while its
    trials (each the active run in turn) come and go. No code, environment or system
    capture: the trials have those."""
    run = _open(
        project,
        name,
        config=config,
        tags=(),
        group=group,
        job_type=job_type,
        seed=None,
        notes="",
        dir=dir,
        capture_code=False,
        capture_env=False,
        system_interval=None,
        heartbeat_interval=10.0,
        flush_interval=0.2,
        strict=strict,
        placement=Placement(),
        strict_code=False,
        warn_nondeterministic=False,
    )
    run._recorder.start()
    return run


def _open(
    project: str,
    name: str | None,
    *,
    config: object,
    tags: Sequence[str],
    group: str,
    job_type: str,
    seed: int | None,
    notes: str,
    dir: str | os.PathLike[str] | None,
    capture_code: bool,
    capture_env: bool,
    system_interval: float | None,
    heartbeat_interval: float,
    flush_interval: float,
    strict: bool | None,
    placement: Placement,
    strict_code: bool,
    warn_nondeterministic: bool,
) -> Run:
    """The run, its start submitted; its recorder not started yet."""
    _check_names(project, name, tags, notes)
    _check_group(group, job_type)
    params = flatten_config(config)  # raises before anything is created
    settings = load_settings(dir)
    if seed is not None:
        seed_everything(seed)
    run_id = shared_run_id(project, placement, new_id)
    run_name = name or _default_name(run_id)
    factory = EnvelopeFactory(project, run_id, rank=placement.rank)
    owner = placement.is_main or not placement.job
    artifacts = open_artifact_sink(settings)  # no request yet: the uploader connects lazily
    recorder = Recorder(
        factory,
        make_transport(settings),
        RecorderOptions(
            flush_interval, heartbeat_interval=heartbeat_interval, system_interval=system_interval
        ),
        system_sampler=SystemSampler() if system_interval else None,
    )
    if owner:  # the other ranks of a job join rank 0's run: their first heartbeat says so
        started, stored = _run_started(
            run_name,
            tags,
            (group, job_type, settings.reproduces),
            params,
            seed,
            notes,
            heartbeat_interval,
            (capture_code, capture_env, strict_code),
            artifacts,
        )
        _place(started, placement)
        if warn_nondeterministic and capture_env:
            _warn_nondeterministic(started, run_name)
        payloads, truncated = fit_run_started(started)
        if truncated:
            recorder.counters.not_recorded["run_started.truncated"] += truncated
        for payload in payloads:
            recorder.submit(payload)
        for artifact in stored:
            recorder.submit(artifact)
    run = Run(
        project=project,
        run_id=run_id,
        name=run_name,
        config=params,
        settings=settings,
        recorder=recorder,
        factory=factory,
        artifacts=artifacts,
        strict=settings.strict if strict is None else strict,
        placement=placement,
        owner=owner,
    )
    return run


def _run_started(
    name: str,
    tags: Sequence[str],
    grouping: tuple[str, str, str],
    params: dict[str, ParamValue],
    seed: int | None,
    notes: str,
    heartbeat_interval: float,
    capture: tuple[bool, bool, bool],
    artifacts: ArtifactSink,
) -> tuple[pb.RunStarted, list[pb.ArtifactLogged]]:
    """The RunStarted payload and the artifacts it refers to (diff, snapshot, lock)."""
    capture_code, capture_env, strict_code = capture
    scrubber = Scrubber()  # secrets out of everything below, counted (runstream.redaction)
    started = pb.RunStarted(
        name=name,
        tags=scrubber.texts(tags),
        group=grouping[0],
        job_type=grouping[1],
        reproduces=grouping[2],
        params=to_params(params, scrubber),
        command=[safe_text(arg) for arg in scrubber.argv([sys.executable, *sys.argv])],
        working_dir=safe_text(os.getcwd()),
        has_seed=seed is not None,
        seed=seed or 0,
        heartbeat_interval_ms=int(heartbeat_interval * 1000),
        notes=scrubber.value(notes) if notes else "",
    )
    stored: list[pb.ArtifactLogged] = []
    if capture_env:
        determinism = determinism_settings(seed)
        reasons = nondeterminism(seed)
        if reasons:
            determinism[NONDETERMINISTIC_KEY] = "; ".join(reasons)
        started.environment.CopyFrom(capture_environment(determinism, scrubber))
        lock = requirements_lock(scrubber)
        stored.append(_stored(artifacts.put_bytes(lock), "requirements.txt"))
    git = capture_run_code() if capture_code else None
    packed = _code_snapshot(artifacts, scrubber) if capture_code and git is None else None
    if git is not None:
        scrubber.count += git.redacted
    if scrubber.count:
        started.params.append(pb.Param(key=COUNT_KEY, value=pb.Value(integer=scrubber.count)))
    if git is None:
        if strict_code:
            _require_rebuildable(None, packed)
        if packed is not None:
            stored.append(packed[0])
        return started, stored
    if strict_code:
        _require_rebuildable(git, None)
    diff = _store_diff(git, artifacts)
    started.git.CopyFrom(
        pb.GitInfo(
            commit=git.commit,
            branch=git.branch,
            remote=git.remote,
            dirty=git.dirty,
            diff_sha256=diff.sha256 if diff else "",
            toplevel=safe_text(git.toplevel),
        )
    )
    if diff is not None:
        stored.append(diff)
    return started, stored


def _stored(stored: StoredArtifact, name: str, **metadata: str) -> pb.ArtifactLogged:
    kind = "requirements" if name == "requirements.txt" else "code-snapshot"
    return pb.ArtifactLogged(
        name=name,
        kind=kind,
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        uri=stored.uri,
        metadata=metadata,
    )


def _code_snapshot(
    artifacts: ArtifactSink, scrubber: Scrubber
) -> tuple[pb.ArtifactLogged, CodeSnapshot] | None:
    """Outside git: the entry script and its local modules, stored as ``code.tar.gz``."""
    script = entry_script()
    if script is None:
        return None
    code = snapshot(script, scrubber)
    artifact = _stored(
        artifacts.put_bytes(code.archive),
        "code.tar.gz",
        root=safe_text(str(code.root)),
        entry=safe_text(code.entry),
        complete=str(code.complete).lower(),
    )
    return artifact, code


def _require_rebuildable(
    git: GitState | None, snapshot: tuple[pb.ArtifactLogged, CodeSnapshot] | None
) -> None:
    """``strict_code``: raise unless the recorded code rebuilds the code that runs."""
    if git is not None:
        if git.diff_truncated:
            raise UnreproducibleCodeError(
                f"the uncommitted diff is over {MAX_DIFF_BYTES} bytes: commit the changes"
            )
        if git.omitted:
            names = ", ".join(git.omitted[:5])
            raise UnreproducibleCodeError(
                f"untracked files recorded by hash only (binary or too large): {names}; "
                "commit them, or ignore them in .gitignore"
            )
        return
    if snapshot is None:
        raise UnreproducibleCodeError(
            "no git repository and no entry script to snapshot (an interactive session)"
        )
    if not snapshot[1].complete:
        raise UnreproducibleCodeError(
            f"the code under {snapshot[1].root} is over {MAX_SNAPSHOT_BYTES} bytes: use git"
        )


def _warn_nondeterministic(started: pb.RunStarted, name: str) -> None:
    reasons = started.environment.determinism.get(NONDETERMINISTIC_KEY)
    if reasons:
        warnings.warn(
            f"runstream: run {name!r} is not deterministic by construction: {reasons} "
            "(recorded with the run; init(warn_nondeterministic=False) keeps quiet)",
            DeterminismWarning,
            stacklevel=3,
        )


def _place(started: pb.RunStarted, placement: Placement) -> None:
    if placement.distributed:
        started.world_size = placement.world_size if placement.job else 1
        started.distributed_job = placement.job


def _store_diff(git: GitState, artifacts: ArtifactSink) -> pb.ArtifactLogged | None:
    if not git.diff:
        return None
    stored = artifacts.put_bytes(git.diff)
    return pb.ArtifactLogged(
        name="git.diff",
        kind="code-diff",
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        uri=stored.uri,
        metadata={"commit": git.commit, "truncated": str(git.diff_truncated).lower()},
    )


def _check_names(project: str, name: str | None, tags: Sequence[str], notes: str) -> None:
    problem = project_problem(project)
    if problem:
        raise InvalidInputError(f"project {project!r}: {problem}")
    if name is not None:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
            raise InvalidInputError(
                f"run name {name!r:.80}: must be 1 to {MAX_NAME_LENGTH} characters"
            )
        problem = text_problem(name, what="run name", control=False)
        if problem:
            raise InvalidInputError(f"run name {name!r:.80}: {problem}")
    if isinstance(tags, str):
        raise InvalidInputError(f"tags must be a list of strings, got the string {tags!r}")
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH:
            raise InvalidInputError(
                f"tag {tag!r}: must be a string of 1 to {MAX_TAG_LENGTH} characters"
            )
        problem = text_problem(tag, what="tag", control=False)
        if problem:
            raise InvalidInputError(f"tag {tag!r}: {problem}")
    problem = text_problem(notes, what="notes")
    if problem:
        raise InvalidInputError(f"notes: {problem}")


def _check_group(group: str, job_type: str) -> None:
    for what, value in (("group", group), ("job_type", job_type)):
        problem = text_problem(value, what=what, max_chars=MAX_NAME_LENGTH, control=False)
        if problem:
            raise InvalidInputError(f"{what} {value!r:.80}: {problem}")


def _default_name(run_id: str) -> str:
    script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-", "-c") else "run"
    return f"{safe_text(script)}-{time.strftime('%Y%m%d-%H%M%S')}-{run_id[:4]}"
