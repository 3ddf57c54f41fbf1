"""A tracked run: what ``runstream.init`` returns and training code logs to."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from .artifacts import ArtifactSink
from .config import ParamValue
from .envelopes import EnvelopeFactory
from .errors import InvalidInputError, RunStateError
from .limits import key_problem
from .recorder import Recorder
from .redaction import COUNT_KEY, Scrubber
from .samples import sample_batches
from .settings import Settings
from .summary import Summary
from .values import MAX_STEP, MIN_STEP, checked_step, raise_problems, split_metrics
from .wire import events_pb2 as pb

logger = logging.getLogger("runstream")

Status = Literal["finished", "failed", "killed"]
_STATUS = {
    "finished": pb.RUN_STATUS_FINISHED,
    "failed": pb.RUN_STATUS_FAILED,
    "killed": pb.RUN_STATUS_KILLED,
}


@dataclass(frozen=True)
class RunReport:
    """What ``finish()`` recorded, and everything it could not (never silent)."""

    run_id: str
    status: Status
    duration_s: float
    points: int
    events: int
    nonfinite_values: int
    nonfinite_keys: tuple[str, ...]
    not_recorded: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.not_recorded


class Run:
    """One training run. Create it with :func:`runstream.init`; do not instantiate directly."""

    def __init__(
        self,
        *,
        project: str,
        run_id: str,
        name: str,
        config: dict[str, ParamValue],
        settings: Settings,
        recorder: Recorder,
        factory: EnvelopeFactory,
        artifacts: ArtifactSink,
    ) -> None:
        self.project = project
        self.id = run_id
        self.name = name
        self.config = config
        self.settings = settings
        self.summary = Summary(self._submit)
        self._recorder = recorder
        self._factory = factory
        self._artifacts = artifacts
        self._known_keys: set[str] = set()
        self._step = 0
        self._rejected = 0
        self._started = time.monotonic()
        self._finished = False
        self._finish_lock = threading.Lock()
        self.report: RunReport | None = None

    # -- logging -----------------------------------------------------------------

    def log(self, metrics: Mapping[str, float], step: int | None = None, split: str = "") -> None:
        """Record metric values at ``step`` (default: one past the last step); never blocks.

        Invalid entries are rejected with an error naming them, after the valid
        ones were recorded. NaN and infinities are recorded and flagged.
        """
        if self._finished:
            raise RunStateError(f"run {self.name!r} is finished; start a new run to log more")
        if step is None:
            step = self._step
        elif type(step) is not int or not MIN_STEP <= step <= MAX_STEP:
            step = checked_step(step)
        if type(split) is not str:
            raise InvalidInputError(f"split must be a string like 'train' or 'eval', got {split!r}")
        self._step = step + 1
        known = self._known_keys
        for key, value in metrics.items():
            kind = type(value)
            if (kind is not float and kind is not int) or key not in known:
                self._log_slow(metrics, step, split)
                return
        self._recorder.add_metrics(split, step, dict(metrics))

    def _log_slow(self, metrics: Mapping[str, object], step: int, split: str) -> None:
        clean, problems = split_metrics(metrics, self._known_keys)
        if clean:
            self._recorder.add_metrics(split, step, clean)
        self._rejected += len(metrics) - len(clean)
        raise_problems(problems)

    def log_samples(
        self,
        inputs: Sequence[object],
        predictions: Sequence[object],
        labels: Sequence[object] | None = None,
        *,
        step: int | None = None,
        split: str = "",
        ids: Sequence[object] | None = None,
    ) -> None:
        """Record per-sample inputs, predictions and (optionally) labels for later inspection."""
        self._check_active()
        batches = sample_batches(
            inputs, predictions, labels, ids, self._step if step is None else step, split
        )
        for batch in batches:
            self._submit(batch)

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        kind: str = "file",
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Store a file by content (SHA-256) and record a pointer to it; returns the digest.

        The file is copied now, so later changes to it do not alter the record. Secrets in
        ``metadata`` values are redacted (their number is the entry ``runstream.redacted``).
        """
        self._check_active()
        source = Path(path)
        if not source.is_file():
            raise InvalidInputError(
                f"artifact {str(source)!r}: not a file (directories: archive them first)"
            )
        artifact_name = name or source.name
        problem = key_problem(artifact_name)
        if problem:
            raise InvalidInputError(f"artifact name {artifact_name!r}: {problem}")
        scrubber = Scrubber()
        clean = scrubber.values(dict(metadata or {}))
        if scrubber.count:
            clean[COUNT_KEY] = str(scrubber.count)
        stored = self._artifacts.put(source)
        self._submit(
            pb.ArtifactLogged(
                name=artifact_name,
                kind=kind,
                sha256=stored.sha256,
                size_bytes=stored.size_bytes,
                uri=stored.uri,
                source_path=str(source.resolve()),
                metadata=clean,
            )
        )
        return stored.sha256

    # -- lifecycle ---------------------------------------------------------------

    def finish(
        self, status: Status = "finished", timeout: float = 30.0, upload_timeout: float = 600.0
    ) -> RunReport:
        """Flush everything to the spool, record the final status and report what was recorded.

        In team mode it first waits up to ``upload_timeout`` s for artifact uploads: a job's
        disk may vanish when it ends. What is not uploaded by then stays in the local store
        and is reported (``runstream artifacts upload`` ships it later).
        """
        with self._finish_lock:
            if self.report is not None:
                return self.report
            if status not in _STATUS:
                raise InvalidInputError(f"status must be one of {sorted(_STATUS)}, got {status!r}")
            self._finished = True
            self.report = self._close(status, timeout, upload_timeout)
        from . import _active

        _active.clear(self)
        _warn_about(self.report, self.name)
        return self.report

    def _close(self, status: Status, timeout: float, upload_timeout: float) -> RunReport:
        counters = self._recorder.counters
        for reason, count in self._artifacts.close(upload_timeout).items():
            counters.not_recorded[reason] += count
        if self._rejected:
            counters.not_recorded["metric values rejected as invalid"] += self._rejected
        final = pb.RunFinished(status=_STATUS[status], summary=self.summary.to_params())
        not_recorded = self._recorder.close(timeout, final)
        return RunReport(
            run_id=self.id,
            status=status,
            duration_s=time.monotonic() - self._started,
            points=counters.points_published,
            events=counters.events_published,
            nonfinite_values=counters.nonfinite_values,
            nonfinite_keys=tuple(sorted(counters.nonfinite_keys)),
            not_recorded=not_recorded,
        )

    def _submit(self, payload: pb.SampleBatch | pb.ArtifactLogged | pb.SummaryUpdate) -> None:
        self._check_active()
        self._recorder.submit(payload)

    def _check_active(self) -> None:
        if self._finished:
            raise RunStateError(f"run {self.name!r} is finished; start a new run to log more")

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.finish("finished")
        else:
            self.finish("killed" if issubclass(kind, KeyboardInterrupt) else "failed")

    def __repr__(self) -> str:
        return f"<Run {self.project}/{self.name} id={self.id[:8]}>"


def _warn_about(report: RunReport, name: str) -> None:
    if report.nonfinite_values:
        keys = ", ".join(report.nonfinite_keys[:10])
        logger.warning(
            "runstream: run %r logged %d NaN/Inf values (%s); they are stored and flagged",
            name,
            report.nonfinite_values,
            keys,
        )
    for reason, count in report.not_recorded.items():
        logger.warning("runstream: run %r: %d %s", name, count, reason)


def status_at_exit() -> Status:
    """'failed' when the interpreter is exiting because of an uncaught exception."""
    error = getattr(sys, "last_value", None) or getattr(sys, "last_exc", None)
    if error is None:
        return "finished"
    return "killed" if isinstance(error, KeyboardInterrupt) else "failed"
