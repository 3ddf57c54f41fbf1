"""runstream: experiment tracking whose ``log()`` costs the training loop almost nothing.

    import runstream

    with runstream.init(project="digits", config=args, seed=0) as run:
        for step, batch in enumerate(loader):
            ...
            run.log({"loss": loss, "lr": lr}, step=step, split="train")
        run.log_artifact("model.pt", kind="checkpoint")

Events go to a durable local spool (and on to Kafka in team mode); the
``runstream`` CLI, Grafana and plain SQL read them from ClickHouse.

``init`` and ``Run`` (and the protobuf runtime behind them) are imported on first use, so
tools that only need ``runstream.settings`` or the errors (the CLI) start fast.
"""

from __future__ import annotations

import importlib
import os
import typing
from collections.abc import Iterable, Mapping

from . import _active
from .errors import (
    DeterminismWarning,
    InvalidConfigError,
    InvalidInputError,
    InvalidKeyError,
    InvalidValueError,
    MissingExtraError,
    RunStateError,
    RunstreamError,
    ServiceUnavailableError,
    SpoolError,
    TrackingWarning,
    TransientError,
    UnreproducibleCodeError,
)
from .report import RunReport, Status
from .version import __version__
from .watcher import Watch

if typing.TYPE_CHECKING:
    from .run import Run
    from .start import init
    from .sweeps import Sweep, sweep

_LAZY = {"init": ".start", "Run": ".run", "Sweep": ".sweeps", "sweep": ".sweeps"}
"""Public names imported on first access (PEP 562), from these modules."""

__all__ = [
    "DeterminismWarning",
    "InvalidConfigError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidValueError",
    "MissingExtraError",
    "Run",
    "RunReport",
    "RunStateError",
    "RunstreamError",
    "ServiceUnavailableError",
    "SpoolError",
    "Status",
    "Sweep",
    "TrackingWarning",
    "TransientError",
    "UnreproducibleCodeError",
    "Watch",
    "__version__",
    "active_run",
    "finish",
    "init",
    "log",
    "log_artifact",
    "log_dataset",
    "log_samples",
    "sweep",
    "watch",
]


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'runstream' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


def active_run() -> Run | None:
    """The run started by ``init`` in this process, if it is still active."""
    return _active.current()


def log(metrics: Mapping[str, float], step: int | None = None, split: str = "") -> None:
    """``log`` on the active run; raises RunStateError when there is none."""
    _active.get().log(metrics, step=step, split=split)


def watch(
    model: typing.Any,
    optimizer: typing.Any = None,
    *,
    every: int = 100,
    batch_size: int | None = None,
    tokens: int | None = None,
    per_layer: bool = True,
    update_ratio: bool = True,
) -> Watch | None:
    """``watch`` on the active run: what moves in a torch model, every ``every`` steps."""
    return _active.get().watch(
        model,
        optimizer,
        every=every,
        batch_size=batch_size,
        tokens=tokens,
        per_layer=per_layer,
        update_ratio=update_ratio,
    )


def log_samples(
    inputs: Iterable[object],
    predictions: Iterable[object],
    labels: Iterable[object] | None = None,
    *,
    step: int | None = None,
    split: str = "",
    ids: Iterable[object] | None = None,
    probabilities: Iterable[object] | None = None,
    scores: Iterable[object] | None = None,
    class_names: Iterable[object] | None = None,
    slices: Mapping[str, Iterable[object]] | None = None,
    metadata: Mapping[str, Iterable[object]] | None = None,
    task: str | None = None,
) -> None:
    """``log_samples`` on the active run."""
    _active.get().log_samples(
        inputs,
        predictions,
        labels,
        step=step,
        split=split,
        ids=ids,
        probabilities=probabilities,
        scores=scores,
        class_names=class_names,
        slices=slices,
        metadata=metadata,
        task=task,
    )


def log_artifact(
    path: str | os.PathLike[str],
    name: str | None = None,
    kind: str = "file",
    metadata: Mapping[str, str] | None = None,
) -> str:
    """``log_artifact`` on the active run; returns the content's SHA-256."""
    return _active.get().log_artifact(path, name=name, kind=kind, metadata=metadata)


def log_dataset(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    role: str = "",
    store: bool = False,
) -> str:
    """``log_dataset`` on the active run; returns the version id."""
    return _active.get().log_dataset(path, name, role=role, store=store)


def finish(
    status: Status = "finished", timeout: float = 30.0, upload_timeout: float = 600.0
) -> RunReport:
    """``finish`` on the active run."""
    return _active.get().finish(status, timeout=timeout, upload_timeout=upload_timeout)
