"""``run_started``: a run's name, tags, params, environment, git state and command line."""

from __future__ import annotations

from collections.abc import Iterable

from runstream.limits import MAX_NAME_LENGTH
from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import (
    BOOL,
    FLOAT64,
    INT64,
    STRING,
    STRING_MAP,
    STRINGS,
    TIMESTAMP,
    UINT32,
    UINT64,
    Table,
    TableRows,
)
from .base import Kind, event_ids
from .checks import check_keys, typed

RUNS_STARTED = Table(
    "runs_started",
    {
        "project": STRING,
        "run_id": STRING,
        "name": STRING,
        "tags": STRINGS,
        "run_group": STRING,
        "job_type": STRING,
        "reproduces": STRING,
        "start_time": TIMESTAMP,
        "user": STRING,
        "hostname": STRING,
        "git_commit": STRING,
        "git_branch": STRING,
        "git_remote": STRING,
        "git_dirty": BOOL,
        "git_diff_sha256": STRING,
        "git_toplevel": STRING,
        "command": STRINGS,
        "working_dir": STRING,
        "seed": INT64,
        "heartbeat_interval_ms": UINT32,
        "notes": STRING,
        "sdk_version": STRING,
        "python_version": STRING,
        "python_executable": STRING,
        "os": STRING,
        "cpu_model": STRING,
        "cpu_count": UINT32,
        "memory_total_bytes": UINT64,
        "gpu_count": UINT32,
        "gpu_names": STRINGS,
        "gpu_driver_version": STRING,
        "cuda_version": STRING,
        "environment_variables": STRING_MAP,
        "determinism": STRING_MAP,
        "event_id": STRING,
        "world_size": UINT32,
        "distributed_job": STRING,
    },
)
PARAMS = Table(
    "params",
    {
        "project": STRING,
        "run_id": STRING,
        "key": STRING,
        "value_type": STRING,
        "value_number": FLOAT64,
        "value_text": STRING,
        "event_id": STRING,
    },
)
PACKAGES = Table(
    "packages",
    {"project": STRING, "run_id": STRING, "name": STRING, "version": STRING, "event_id": STRING},
)


def check(envelope: pb.Envelope) -> None:
    started = envelope.run_started
    if not started.name or len(started.name) > MAX_NAME_LENGTH:
        raise InvalidEventError(
            "missing_field", f"run_started.name must be 1 to {MAX_NAME_LENGTH} characters"
        )
    check_keys("param", (param.key for param in started.params))


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    started, env, git = (
        envelope.run_started,
        envelope.run_started.environment,
        envelope.run_started.git,
    )
    out.row(
        RUNS_STARTED,
        **event_ids(envelope),
        name=started.name,
        tags=list(started.tags),
        run_group=started.group,
        job_type=started.job_type,
        reproduces=started.reproduces,
        start_time=envelope.time_unix_nano,
        user=env.user,
        hostname=env.hostname,
        git_commit=git.commit,
        git_branch=git.branch,
        git_remote=git.remote,
        git_dirty=git.dirty,
        git_diff_sha256=git.diff_sha256,
        git_toplevel=git.toplevel,
        command=list(started.command),
        working_dir=started.working_dir,
        seed=started.seed if started.has_seed else None,
        heartbeat_interval_ms=started.heartbeat_interval_ms,
        notes=started.notes,
        sdk_version=envelope.sdk_version,
        python_version=env.python_version,
        python_executable=env.python_executable,
        os=env.os,
        cpu_model=env.cpu_model,
        cpu_count=env.cpu_count,
        memory_total_bytes=env.memory_total_bytes,
        gpu_count=len(env.gpus),
        gpu_names=[gpu.name for gpu in env.gpus],
        gpu_driver_version=env.gpu_driver_version,
        cuda_version=env.cuda_version,
        environment_variables=dict(env.variables),
        determinism=dict(env.determinism),
        world_size=max(started.world_size, 1),
        distributed_job=started.distributed_job,
    )
    params_and_packages(envelope, out, started.params, env.packages)


def params_and_packages(
    envelope: pb.Envelope,
    out: TableRows,
    params: Iterable[pb.Param],
    packages: Iterable[pb.Package],
) -> None:
    """Rows of ``params`` and ``packages``; shared with ``run_started_continued``."""
    ids = event_ids(envelope)
    for param in params:
        value_type, number, text = typed(param.value)
        out.row(
            PARAMS,
            **ids,
            key=param.key,
            value_type=value_type,
            value_number=number,
            value_text=text,
        )
    for package in packages:
        out.row(PACKAGES, **ids, name=package.name, version=package.version)


KIND = Kind(
    field="run_started",
    check=check,
    rows=rows,
    tables=(RUNS_STARTED, PARAMS, PACKAGES),
    heartbeat_interval_ms=lambda envelope: envelope.run_started.heartbeat_interval_ms,
)
