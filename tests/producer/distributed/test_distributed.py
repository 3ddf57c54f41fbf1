"""Ranks of one torch.distributed job join one run (two real gloo processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runstream.distributed import Placement, detect, job_run_id, shared_run_id
from runstream.settings import Settings
from support.runs import store

WORKER = Path(__file__).with_name("ddp_worker.py")


def _run_job(
    settings: Settings, tmp_path: Path, mode: str
) -> list[subprocess.CompletedProcess[str]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID")
    }
    env["RUNSTREAM_DIR"] = str(settings.root)
    store_file = tmp_path / "gloo-store"
    ranks = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), "2", str(store_file), mode],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    done = []
    for rank in ranks:
        out, err = rank.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(rank.args, rank.returncode, out, err))
    return done


def test_two_gloo_ranks_are_one_run_finished_when_both_finish(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    done = _run_job(runstream_dir, tmp_path, "finish")
    for result in done:
        assert result.returncode == 0, result.stderr[-3000:]
    assert "summary on rank 1: rank 0 owns the run's summary" in done[1].stderr
    assert "not_recorded=[]" in done[0].stderr
    run_ids = {line.split()[-1] for result in done for line in result.stdout.splitlines()}
    assert len(run_ids) == 1, run_ids
    (run_id,) = run_ids
    with store(runstream_dir) as client:
        runs = client.query("SELECT run_id, name, status FROM runstream.runs").result_rows
        assert runs == [(run_id, "ddp-job", "finished")]
        started = client.query(
            "SELECT world_size, distributed_job FROM runstream.runs_started"
        ).result_rows
        assert started == [(2, "torch.distributed")]
        params = client.query(
            "SELECT key, count() FROM runstream.params WHERE key IN ('lr', 'batch') "
            "GROUP BY key ORDER BY key"
        ).result_rows
        assert params == [("batch", 1), ("lr", 1)]
        per_rank = client.query(
            "SELECT rank, split, count(), groupArray(step) FROM runstream.metrics "
            "WHERE key = 'loss' GROUP BY rank, split ORDER BY rank"
        ).result_rows
        assert [(r, s, n) for r, s, n, _ in per_rank] == [(0, "train", 5), (1, "train", 5)]
        system_ranks = client.query(
            "SELECT DISTINCT rank FROM runstream.system ORDER BY rank"
        ).result_rows
        assert system_ranks == [(0,), (1,)]
        finishes = client.query(
            "SELECT rank, status FROM runstream.runs_finished ORDER BY rank"
        ).result_rows
        assert finishes == [(0, "finished"), (1, "finished")]
        summary = client.query("SELECT key FROM runstream.run_summary").result_rows
        assert summary == [("final_weight",)]
        ranks = client.query(
            "SELECT world_size, ranks_seen, ranks_finished, ranks_crashed, status "
            "FROM runstream.run_ranks"
        ).result_rows
        assert ranks == [(2, 2, 2, 0, "finished")]


def test_a_rank_that_dies_makes_the_run_crashed(runstream_dir: Settings, tmp_path: Path) -> None:
    done = _run_job(runstream_dir, tmp_path, "die")
    assert done[0].returncode == 0, done[0].stderr[-3000:]
    assert done[1].returncode == 3, done[1].stderr[-3000:]
    time.sleep(2.0)  # past rank 1's timeout: 3 heartbeats of 0.2 s plus a second
    with store(runstream_dir) as client:
        ranks = client.query(
            "SELECT ranks_seen, ranks_finished, ranks_crashed, crashed_ranks, status "
            "FROM runstream.run_ranks"
        ).result_rows
        assert ranks == [(2, 1, 1, [1], "crashed")]
        metrics_of_dead_rank = client.query(
            "SELECT count() FROM runstream.metrics WHERE rank = 1"
        ).result_rows
        assert metrics_of_dead_rank == [(5,)]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, Placement()),
        ({"RANK": "0", "WORLD_SIZE": "1"}, Placement()),
        (
            {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "TORCHELASTIC_RUN_ID": "abc"},
            Placement(rank=3, world_size=4, local_rank=1, job="torchelastic:abc"),
        ),
        (
            {"RANK": "1", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "none"},
            Placement(rank=1, world_size=2, job=""),
        ),
        (
            {
                "SLURM_PROCID": "2",
                "SLURM_NTASKS": "8",
                "SLURM_LOCALID": "2",
                "SLURM_JOB_ID": "77",
                "SLURM_STEP_ID": "0",
            },
            Placement(rank=2, world_size=8, local_rank=2, job="slurm:77.0"),
        ),
    ],
)
def test_the_launchers_variables_place_the_process(
    environ: dict[str, str], expected: Placement
) -> None:
    assert detect(environ) == expected


def test_ranks_of_one_launcher_job_derive_the_same_run_id_and_other_jobs_another() -> None:
    rank0 = Placement(rank=0, world_size=2, job="torchelastic:abc")
    rank1 = Placement(rank=1, world_size=2, job="torchelastic:abc")
    other = Placement(rank=0, world_size=2, job="torchelastic:abd")
    ids = {shared_run_id("p", placement, lambda: "fresh") for placement in (rank0, rank1)}
    assert ids == {job_run_id("p", "torchelastic:abc")}
    assert shared_run_id("p", other, lambda: "fresh") not in ids
    assert shared_run_id("q", rank0, lambda: "fresh") not in ids
    assert len(job_run_id("p", "x")) == 32


ENV_RANK = """
import runstream
run = runstream.init(project="ddp", name="elastic", config={"lr": 0.5}, capture_code=False,
                     capture_env=False, system_interval=None, heartbeat_interval=0.2)
run.log({"loss": 1.0 + run.placement.rank}, step=0)
run.finish()
print(run.id)
"""


def test_ranks_of_a_torchrun_job_join_by_its_run_id_without_a_process_group(
    runstream_dir: Settings,
) -> None:
    """torchrun's variables alone (no torch imported): the id comes from TORCHELASTIC_RUN_ID."""
    ids = set()
    for rank in (1, 0):  # rank 1 first: the run is one whichever rank starts it
        env = {
            **os.environ,
            "RUNSTREAM_DIR": str(runstream_dir.root),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "TORCHELASTIC_RUN_ID": "job-42",
        }
        done = subprocess.run(
            [sys.executable, "-c", ENV_RANK], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr[-3000:]
        ids.add(done.stdout.strip())
    assert ids == {job_run_id("ddp", "torchelastic:job-42")}
    with store(runstream_dir) as client:
        assert client.query("SELECT name, status FROM runstream.runs").result_rows == [
            ("elastic", "finished")
        ]
        assert client.query(
            "SELECT rank, value FROM runstream.metrics ORDER BY rank"
        ).result_rows == [(0, 1.0), (1, 2.0)]
        assert client.query(
            "SELECT world_size, distributed_job FROM runstream.runs_started"
        ).result_rows == [(2, "torchelastic:job-42")]
        assert client.query(
            "SELECT ranks_seen, ranks_finished, status FROM runstream.run_ranks"
        ).result_rows == [(2, 2, "finished")]
