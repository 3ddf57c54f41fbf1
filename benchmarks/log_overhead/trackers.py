"""Trackers: one small adapter each; the tracker libraries are imported only in the child."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class Tracker(Protocol):
    def log(self, values: dict[str, float], step: int) -> None: ...

    def finish(self) -> object:
        """Close the run and return once what was logged is durable (its report, if any)."""
        ...


class NoopTracker:
    """Does nothing: the harness's own cost (dict building excluded, timer included)."""

    def __init__(self, workdir: Path) -> None:
        del workdir

    def log(self, values: dict[str, float], step: int) -> None:
        pass

    def finish(self) -> object:
        return None


class RunstreamTracker:
    def __init__(self, workdir: Path) -> None:
        import runstream

        kwargs: dict[str, Any] = {"project": "bench", "name": "log-overhead"}
        if "dir" in inspect.signature(runstream.init).parameters:
            kwargs["dir"] = str(workdir)
        # RUNSTREAM_DIR is set to workdir by the parent as well, for SDKs without ``dir=``.
        self._run = runstream.init(**kwargs)

    def log(self, values: dict[str, float], step: int) -> None:
        self._run.log(values, step=step)

    def finish(self) -> object:
        return self._run.finish()


class WandbTracker:
    def __init__(self, workdir: Path) -> None:
        import wandb

        self._run = wandb.init(
            project="bench", name="log-overhead", dir=str(workdir), mode="offline"
        )

    def log(self, values: dict[str, float], step: int) -> None:
        self._run.log(values, step=step)

    def finish(self) -> object:
        self._run.finish()
        return None


class MlflowTracker:
    def __init__(self, workdir: Path, store: str, synchronous: bool) -> None:
        import mlflow

        if store == "sqlite":
            uri = f"sqlite:///{workdir / 'mlflow.db'}"
        else:
            uri = (workdir / "mlruns").as_uri()
        mlflow.set_tracking_uri(uri)
        self._mlflow = mlflow
        self._synchronous = synchronous
        mlflow.start_run(run_name="log-overhead")

    def log(self, values: dict[str, float], step: int) -> None:
        self._mlflow.log_metrics(values, step=step, synchronous=self._synchronous)

    def finish(self) -> object:
        if not self._synchronous:
            # end_run() only stops the async queue from accepting data; this waits until
            # everything queued has been written.
            self._mlflow.flush_async_logging()
        self._mlflow.end_run()
        return None


class AimTracker:
    def __init__(self, workdir: Path) -> None:
        from aim.sdk.run import Run

        self._run = Run(repo=str(workdir), experiment="bench")

    def log(self, values: dict[str, float], step: int) -> None:
        self._run.track(values, step=step)

    def finish(self) -> object:
        # With aim's tracking thread, close() returns while tracks are still queued (they are
        # drained at interpreter exit): wait for the queue, so finish means "on disk" here too.
        tracking_queue = getattr(self._run.repo, "tracking_queue", None)
        if tracking_queue is not None:
            tracking_queue._queue.join()
        self._run.close()
        return None


class TensorboardXTracker:
    """TensorBoard has no dict-of-scalars call that writes one series per key: 10 add_scalar."""

    def __init__(self, workdir: Path) -> None:
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter(logdir=str(workdir))

    def log(self, values: dict[str, float], step: int) -> None:
        add_scalar = self._writer.add_scalar
        for key, value in values.items():
            add_scalar(key, value, step)

    def finish(self) -> object:
        self._writer.close()
        return None


@dataclass(frozen=True)
class TrackerSpec:
    name: str
    factory: Callable[[Path], Tracker]
    module: str
    """Module that must be importable for the tracker to run."""
    dists: tuple[str, ...]
    """Distributions whose versions are recorded."""
    mode: str
    """What log() does, in a few words, for the table."""
    env: dict[str, str] = field(default_factory=dict)
    default: bool = True


SPECS: tuple[TrackerSpec, ...] = (
    TrackerSpec("noop", NoopTracker, "json", (), "harness only: builds nothing, logs nothing"),
    TrackerSpec(
        "runstream",
        RunstreamTracker,
        "runstream",
        ("runstream", "protobuf"),
        "log() enqueues; a background thread batches to the local spool",
    ),
    TrackerSpec(
        "wandb-offline",
        WandbTracker,
        "wandb",
        ("wandb",),
        "offline mode: records go to the wandb-core helper process, written to a .wandb file",
        env={"WANDB_MODE": "offline"},
    ),
    TrackerSpec(
        "mlflow-sqlite",
        lambda d: MlflowTracker(d, "sqlite", synchronous=True),
        "mlflow",
        ("mlflow", "sqlalchemy"),
        "sync log_metrics, sqlite store (mlflow 3's default local store)",
    ),
    TrackerSpec(
        "mlflow-sqlite-async",
        lambda d: MlflowTracker(d, "sqlite", synchronous=False),
        "mlflow",
        ("mlflow",),
        "log_metrics(synchronous=False): queued, written by a thread pool; sqlite store",
    ),
    TrackerSpec(
        "mlflow-file",
        lambda d: MlflowTracker(d, "file", synchronous=True),
        "mlflow",
        ("mlflow",),
        "sync log_metrics, file store (maintenance mode; needs MLFLOW_ALLOW_FILE_STORE)",
        env={"MLFLOW_ALLOW_FILE_STORE": "true"},
    ),
    TrackerSpec(
        "mlflow-file-async",
        lambda d: MlflowTracker(d, "file", synchronous=False),
        "mlflow",
        ("mlflow",),
        "log_metrics(synchronous=False), file store",
        env={"MLFLOW_ALLOW_FILE_STORE": "true"},
    ),
    TrackerSpec(
        "aim",
        AimTracker,
        "aim",
        ("aim", "aimrocks"),
        "run.track(dict): written in the calling thread to the local RocksDB repo",
    ),
    TrackerSpec(
        "aim-thread",
        AimTracker,
        "aim",
        ("aim",),
        "run.track(dict) with aim's tracking thread (__AIM_ENABLE_TRACKING_THREAD__)",
        env={"__AIM_ENABLE_TRACKING_THREAD__": "1"},
        default=False,
    ),
    TrackerSpec(
        "tensorboardx",
        TensorboardXTracker,
        "tensorboardX",
        ("tensorboardX", "tensorboard"),
        "10 x SummaryWriter.add_scalar; a writer thread appends to the event file",
    ),
)
SPECS_BY_NAME: dict[str, TrackerSpec] = {spec.name: spec for spec in SPECS}

# Keep peers quiet and off the network; keep their caches and configs in the temp dir.
COMMON_CHILD_ENV: dict[str, str] = {
    "WANDB_SILENT": "true",
    "WANDB_DISABLE_CODE": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}
