"""``runstream.init``: capture everything about the run, then start recording in the background."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import _active, _signals
from .artifacts import ArtifactSink, open_artifact_sink
from .capture.environment import capture_environment
from .capture.git import GitState, capture_run_code
from .capture.seeds import determinism_settings, seed_everything
from .capture.system import SystemSampler
from .config import ParamValue, flatten_config, to_params
from .distributed import Placement, detect, shared_run_id
from .envelopes import EnvelopeFactory, fit_run_started, new_id
from .errors import InvalidInputError
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
        started, diff = _run_started(
            run_name,
            tags,
            (group, job_type),
            params,
            seed,
            notes,
            heartbeat_interval,
            capture_code,
            capture_env,
            artifacts,
        )
        _place(started, placement)
        payloads, truncated = fit_run_started(started)
        if truncated:
            recorder.counters.not_recorded["run_started.truncated"] += truncated
        for payload in payloads:
            recorder.submit(payload)
        if diff is not None:
            recorder.submit(diff)
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
    grouping: tuple[str, str],
    params: dict[str, ParamValue],
    seed: int | None,
    notes: str,
    heartbeat_interval: float,
    capture_code: bool,
    capture_env: bool,
    artifacts: ArtifactSink,
) -> tuple[pb.RunStarted, pb.ArtifactLogged | None]:
    scrubber = Scrubber()  # secrets out of everything below, counted (runstream.redaction)
    started = pb.RunStarted(
        name=name,
        tags=scrubber.texts(tags),
        group=grouping[0],
        job_type=grouping[1],
        params=to_params(params, scrubber),
        command=[safe_text(arg) for arg in scrubber.argv([sys.executable, *sys.argv])],
        working_dir=safe_text(os.getcwd()),
        has_seed=seed is not None,
        seed=seed or 0,
        heartbeat_interval_ms=int(heartbeat_interval * 1000),
        notes=scrubber.value(notes) if notes else "",
    )
    if capture_env:
        started.environment.CopyFrom(capture_environment(determinism_settings(seed), scrubber))
    git = capture_run_code() if capture_code else None
    if git is not None:
        scrubber.count += git.redacted
    if scrubber.count:
        started.params.append(pb.Param(key=COUNT_KEY, value=pb.Value(integer=scrubber.count)))
    if git is None:
        return started, None
    diff = _store_diff(git, artifacts)
    started.git.CopyFrom(
        pb.GitInfo(
            commit=git.commit,
            branch=git.branch,
            remote=git.remote,
            dirty=git.dirty,
            diff_sha256=diff.sha256 if diff else "",
        )
    )
    return started, diff


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
