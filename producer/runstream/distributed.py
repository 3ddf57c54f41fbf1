"""Which process of a distributed job this is, and the run id every rank of the job shares.

Two ranks of one torch DDP job must be one run, not two runs that share a name. The job
is recognised, first match wins, from:

* the launcher's job id: ``TORCHELASTIC_RUN_ID`` (torchrun; not its placeholder ``none``),
  ``SLURM_JOB_ID`` (with ``SLURM_STEP_ID``): the run id is derived from it and the
  project, so ranks agree without talking to each other;
* an initialized ``torch.distributed`` process group without such an id: rank 0 makes
  the run id and broadcasts it (a collective: every rank must call ``init``).

Rank and world size come from ``torch.distributed`` when it is initialized, else from
``RANK``/``WORLD_SIZE`` (``SLURM_PROCID``/``SLURM_NTASKS`` under srun). Rank 0 owns the
run's start (params, environment, code), its summary and its final status; every rank
sends its own metrics, system stats, heartbeats and finish, each envelope carrying its
rank, and the store tells the run finished when every rank finished (``run_ranks``).
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .settings import environment_snapshot

logger = logging.getLogger("runstream")


@dataclass(frozen=True)
class Placement:
    """Where this process sits in a job: rank 0 of 1 for an ordinary script."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    job: str = ""
    """``launcher:id`` of the job the ranks share ('' when none was found)."""

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _int(environ: Mapping[str, str], *names: str, default: int) -> int:
    for name in names:
        value = environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return default


def _launcher_job(environ: Mapping[str, str]) -> str:
    elastic = environ.get("TORCHELASTIC_RUN_ID", "").strip()
    if elastic and elastic.lower() != "none":
        return f"torchelastic:{elastic}"
    slurm = environ.get("SLURM_JOB_ID", "").strip()
    if slurm:
        step = environ.get("SLURM_STEP_ID", "").strip()
        return f"slurm:{slurm}.{step}" if step else f"slurm:{slurm}"
    return ""


def _torch_group() -> tuple[int, int] | None:
    """(rank, world size) of torch.distributed's default group, if torch is loaded and it
    is initialized (torch is never imported here: a script without it has no group)."""
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return None
    try:
        if not dist.is_available() or not dist.is_initialized():
            return None
        return int(dist.get_rank()), int(dist.get_world_size())
    except (RuntimeError, ValueError):
        return None


def detect(environ: Mapping[str, str] | None = None) -> Placement:
    """This process's placement, from torch.distributed or the launcher's variables."""
    environ = environment_snapshot() if environ is None else environ
    group = _torch_group()
    if group is not None:
        rank, world_size = group
    else:
        rank = _int(environ, "RANK", "SLURM_PROCID", default=0)
        world_size = _int(environ, "WORLD_SIZE", "SLURM_NTASKS", default=1)
    if world_size <= 1:
        return Placement()
    local_rank = _int(environ, "LOCAL_RANK", "SLURM_LOCALID", default=0)
    job = _launcher_job(environ)
    if not job and group is not None:
        job = "torch.distributed"
    return Placement(rank=rank, world_size=world_size, local_rank=local_rank, job=job)


def job_run_id(project: str, job: str) -> str:
    """The run id every rank of ``job`` derives alike: 32 hex characters."""
    return hashlib.sha256(f"runstream-run\0{project}\0{job}".encode()).hexdigest()[:32]


def shared_run_id(project: str, placement: Placement, new_id: Callable[[], str]) -> str:
    """The run id for this process: one per job for its ranks, a fresh one otherwise."""
    if not placement.distributed:
        return new_id()
    if placement.job and placement.job != "torch.distributed":
        return job_run_id(project, placement.job)
    if placement.job == "torch.distributed":
        return _broadcast_id(new_id() if placement.is_main else "")
    logger.warning(
        "runstream: rank %d of %d found no job id (TORCHELASTIC_RUN_ID, SLURM_JOB_ID) and "
        "no initialized torch.distributed group: its run is not joined with the other ranks "
        "(call torch.distributed.init_process_group before runstream.init)",
        placement.rank,
        placement.world_size,
    )
    return new_id()


def _broadcast_id(mine: str) -> str:
    import torch.distributed as dist

    box = [mine]
    dist.broadcast_object_list(box, src=0)
    return str(box[0])
