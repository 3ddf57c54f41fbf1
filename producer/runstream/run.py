"""A tracked run: what ``runstream.init`` returns and training code logs to."""

from __future__ import annotations

import collections
import errno
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from . import datasets
from .artifacts import ArtifactSink
from .config import ParamValue, flatten_config, to_params
from .distributed import Placement
from .envelopes import EnvelopeFactory
from .errors import (
    InvalidInputError,
    InvalidKeyError,
    InvalidValueError,
    RunStateError,
    TrackingWarning,
)
from .limits import (
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PAYLOAD_BYTES,
    MAX_TEXT_VALUE_BYTES,
    key_problem,
    safe_text,
    text_problem,
)
from .recorder import Recorder
from .redaction import COUNT_KEY, Scrubber
from .report import RunReport, Status
from .samples import Evaluable, sample_batches
from .settings import Settings
from .summary import Summary
from .values import (
    MAX_STEP,
    MIN_STEP,
    checked_step,
    raise_problems,
    split_metrics,
    split_problem,
)
from .watcher import Watch
from .wire import events_pb2 as pb

logger = logging.getLogger("runstream")

_STATUS = {
    "finished": pb.RUN_STATUS_FINISHED,
    "failed": pb.RUN_STATUS_FAILED,
    "killed": pb.RUN_STATUS_KILLED,
    "pruned": pb.RUN_STATUS_PRUNED,
}


MAX_REFUSAL_KINDS = 1_000
"""Distinct (subject, problem) pairs a run counts separately; further ones share one entry."""
_OTHER_REFUSALS = "rejected: other subjects and problems (too many distinct ones to list)"
_MAX_REASON_CHARS = 300
_LOGGED_REASONS = 20
"""finish() logs the most frequent reasons of not_recorded; the report holds them all."""


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
        strict: bool = False,
        placement: Placement | None = None,
        owner: bool = True,
    ) -> None:
        self.project = project
        self.id = run_id
        self.name = name
        self.config = config
        self.settings = settings
        self.strict = strict
        """Raise on invalid input (the default counts it and warns once; see :meth:`log`)."""
        self.placement = placement or Placement()
        """This process's rank and world size: the ranks of one distributed job share a run."""
        self._owner = owner
        self.summary = Summary(self._submit_summary, self._refuse)
        self._recorder = recorder
        self._factory = factory
        self._artifacts = artifacts
        self._known_keys: set[str] = set()
        self._known_splits: set[str] = {""}
        self._refused: collections.Counter[str] = collections.Counter()
        self._refused_lock = threading.Lock()
        self._step = 0
        self._rejected = 0
        self._started = time.monotonic()
        self._finished = False
        self._finish_lock = threading.Lock()
        self._watches: list[Watch] = []
        self.report: RunReport | None = None

    @property
    def finished(self) -> bool:
        """Whether :meth:`finish` was called (nothing more can be logged)."""
        return self._finished

    # -- logging -----------------------------------------------------------------

    def log(self, metrics: Mapping[str, float], step: int | None = None, split: str = "") -> None:
        """Record metric values at ``step`` (default: one past the last step); never blocks.

        Values are numbers: floats, ints, bools, numpy scalars and one-element arrays or
        tensors. NaN and infinities are recorded and flagged. What cannot be recorded (a
        string value, a malformed key, a bad ``step`` or ``split``) is left out while the
        valid entries are recorded: counted in ``finish()``'s report and warned about once
        per key and problem (:class:`runstream.TrackingWarning`); a strict run
        (``init(strict=True)``) raises an error naming every problem instead.
        """
        if self._finished:
            raise RunStateError(f"run {self.name!r} is finished; start a new run to log more")
        if step is None:
            step = self._step
        elif type(step) is not int or not MIN_STEP <= step <= MAX_STEP:
            try:
                step = checked_step(step)
            except InvalidInputError as error:
                self._refuse(error, _size(metrics))
                return
        if type(split) is not str or split not in self._known_splits:
            problem = split_problem(split)
            if problem is not None:
                self._refuse(problem, _size(metrics))
                return
            self._known_splits.add(split)
        try:
            items = metrics.items()
        except AttributeError:
            self._refuse(_not_a_mapping(metrics))
            return
        self._step = step + 1
        known = self._known_keys
        for key, value in items:
            kind = type(value)
            if (kind is not float and kind is not int) or key not in known:
                self._log_slow(metrics, step, split)
                return
        self._recorder.add_metrics(split, step, dict(metrics))

    def _log_beside(self, metrics: Mapping[str, float], step: int) -> None:
        """``log`` at ``step`` without moving the default step of the user's own ``log()``
        calls (``watch()`` logs from hooks, at its own steps)."""
        default = self._step
        self.log(metrics, step=step)
        self._step = default

    def _log_slow(self, metrics: Mapping[str, object], step: int, split: str) -> None:
        clean, problems = split_metrics(metrics, self._known_keys)
        if clean:
            self._recorder.add_metrics(split, step, clean)
        if self.strict:
            self._rejected += len(metrics) - len(clean)
            raise_problems(problems)
        for problem in problems:
            self._note(problem)

    def watch(
        self,
        model: Any,
        optimizer: Any = None,
        *,
        every: int = 100,
        batch_size: int | None = None,
        tokens: int | None = None,
        per_layer: bool = True,
        update_ratio: bool = True,
    ) -> Watch | None:
        """Log what moves in a torch model every ``every`` optimizer steps (``watch/`` keys).

        Learning rate per parameter group, gradient norms before clipping (global and per
        parameter), weight norms, the update-to-weight ratio, steps/s (and samples/s, tokens/s
        with ``batch_size``/``tokens`` per step), CUDA memory on a GPU; see
        :mod:`runstream.watcher`. Returns the :class:`~runstream.watcher.Watch` (``remove()`` ends
        it; ``finish()`` does too), or None when the arguments are refused (counted and
        warned about; a strict run raises).
        """
        self._check_active()
        try:
            problem = _watch_problem(model, every, batch_size, tokens)
            if problem is not None:
                raise problem
        except InvalidInputError as error:
            self._refuse(error)
            return None
        watch = Watch(
            self,
            model,
            optimizer,
            every=every,
            batch_size=batch_size,
            tokens=tokens,
            per_layer=per_layer,
            update_ratio=update_ratio,
        )
        self._watches.append(watch)
        return watch

    def log_samples(
        self,
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
        """Record per-sample inputs, predictions and (optionally) labels for later inspection.

        Each argument is a list (or any iterable, read once) with one item per sample. A
        sample with a field that cannot be stored is left out (a strict run raises instead,
        recording nothing of the call), like invalid input of :meth:`log`.

        For ``runstream eval``: ``probabilities`` (or raw ``scores``) hold one number per
        class of ``class_names`` for each sample (one number per sample for two classes:
        the second class's probability); with class names, predictions and labels may be
        class indices or names. ``slices`` ({"lang": [...]}) name groups to break metrics
        down by, ``metadata`` anything else per sample. ``task="regression"`` takes numeric
        predictions and labels (targets).
        """
        self._check_active()
        try:
            at = self._step if step is None else checked_step(step)
            bad_split = split_problem(split)
            if bad_split is not None:
                raise bad_split
            evaluable = Evaluable(probabilities, scores, slices, metadata, class_names, task)
            batches, problems = sample_batches(
                inputs, predictions, labels, ids, at, split, evaluable
            )
        except InvalidInputError as error:
            self._refuse(error)
            return
        if problems and self.strict:
            raise problems[0]
        for problem in problems:
            self._note(problem)
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

        A path that is not a file, a bad name, or a failure to copy it into the local store
        (a full disk) is counted in ``finish()``'s report and warned about, and ``""`` is
        returned; a strict run raises.

        The file is copied now, so later changes to it do not alter the record. Secrets in
        ``metadata`` values are redacted (their number is the entry ``runstream.redacted``).
        """
        self._check_active()
        try:
            source, artifact_name, clean_metadata = _artifact_input(path, name, kind, metadata)
        except InvalidInputError as error:
            self._refuse(error)
            return ""
        scrubber = Scrubber()
        clean = scrubber.values(clean_metadata)
        if scrubber.count:
            clean[COUNT_KEY] = str(scrubber.count)
        try:
            stored = self._artifacts.put(source)
        except OSError as error:
            if self.strict:
                raise
            why = "disk full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
            self._count(f"artifact {artifact_name!r}: {why}", 1, f"artifact {source}: {error}")
            return ""
        self._submit(
            pb.ArtifactLogged(
                name=artifact_name,
                kind=kind,
                sha256=stored.sha256,
                size_bytes=stored.size_bytes,
                uri=stored.uri,
                source_path=safe_text(str(source.resolve())),
                metadata=clean,
            )
        )
        return stored.sha256

    def add_config(self, config: object) -> None:
        """Record config keys known only after the start: a sweep trial's sampled params.

        ``config`` is flattened like ``init``'s; the keys join the run's params (sent as
        ``RunStartedContinued``; on a rank other than 0 nothing is sent: rank 0 owns the
        config). Invalid input is counted and warned about (a strict run raises), like
        :meth:`log`'s.
        """
        self._check_active()
        try:
            params = flatten_config(config)
            wire = to_params(params, Scrubber())
        except InvalidInputError as error:
            self._refuse(error)
            return
        if not params or not self._owner:
            return
        self.config.update(params)
        self._submit(pb.RunStartedContinued(params=wire))

    def log_dataset(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        *,
        role: str = "",
        store: bool = False,
    ) -> str:
        """Record the version of the data at ``path`` (a file or a directory); returns its id.

        The manifest lists every file's path (relative to the directory; for a single file,
        to its directory), size and SHA-256; the version id derives from it, so unchanged
        data keeps its version. Hashing runs in parallel and is cached by path, size and
        mtime, so re-logging unchanged data reads nothing. ``role`` says what the run used
        it for (``train``, ``eval``, ...). ``store=True`` also stores the content in the
        artifact store by SHA-256 (a file already there is not copied again), which lets
        ``runstream reproduce`` restore this exact version. A path that cannot be read is
        counted and warned about, and ``""`` returned; a strict run raises.
        """
        self._check_active()
        try:
            source, dataset_name = _dataset_input(path, name, role)
            manifest = datasets.build_manifest(
                source, datasets.HashCache(self.settings.hash_cache_file)
            )
        except InvalidInputError as error:
            self._refuse(error)
            return ""
        except OSError as error:
            if self.strict:
                raise
            self._count(f"dataset {name or path!s:.80}: unreadable", 1, f"dataset {path}: {error}")
            return ""
        if store:
            try:
                manifest = self._store_dataset(manifest)
            except OSError as error:
                if self.strict:
                    raise
                why = "disk full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
                self._count(f"dataset {dataset_name!r}: {why}", 1, f"dataset {path}: {error}")
                return ""
        payload = pb.DatasetVersion(
            name=dataset_name,
            version=manifest.version,
            role=role,
            root=safe_text(_recorded_root(manifest.root)),
            stored=store,
            files=[
                pb.DatasetFile(path=safe_text(e.path), size_bytes=e.size_bytes, sha256=e.sha256)
                for e in manifest.entries
            ],
        )
        if payload.ByteSize() > MAX_PAYLOAD_BYTES:
            self._refuse(
                InvalidValueError.of(
                    f"dataset {dataset_name!r}",
                    f"its manifest of {len(manifest.entries)} files is over "
                    f"{MAX_PAYLOAD_BYTES} bytes (archive small files together)",
                )
            )
            return ""
        self._submit(payload)
        return manifest.version

    def _store_dataset(self, manifest: datasets.Manifest) -> datasets.Manifest:
        """Store every file by content (parallel; known digests are not copied again)."""

        def one(entry: datasets.ManifestEntry) -> datasets.ManifestEntry:
            if self._artifacts.known(entry.sha256, entry.size_bytes) is not None:
                return entry
            stored = self._artifacts.put(manifest.root / entry.path)
            # The stored copy is what a reproduction gets: record its digest if the file
            # changed since it was hashed.
            return datasets.ManifestEntry(entry.path, stored.size_bytes, stored.sha256)

        workers = min(datasets.MAX_WORKERS, max(1, len(manifest.entries)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return datasets.Manifest(manifest.root, tuple(pool.map(one, manifest.entries)))

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
            for watch in self._watches:
                watch.remove()
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
        with self._refused_lock:
            counters.not_recorded.update(self._refused)
        final = pb.RunFinished(
            status=_STATUS[status], summary=self.summary.to_params() if self._owner else []
        )
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

    # -- invalid input -----------------------------------------------------------

    def _refuse(self, error: InvalidInputError, count: int = 1) -> None:
        """Raise ``error`` in a strict run; else count it (``count`` values) and warn once."""
        if self.strict:
            raise error
        self._note(error, count)

    def _note(self, error: InvalidInputError, count: int = 1) -> None:
        subject = f"{error.subject}: " if error.subject else ""
        self._count(f"rejected: {subject}{error.problem}", count, str(error))

    def _count(self, reason: str, count: int, message: str) -> None:
        """Count ``reason`` in the report; the first time, warn with ``message``."""
        reason = safe_text(reason)[:_MAX_REASON_CHARS]  # RunFinished carries it: valid UTF-8
        with self._refused_lock:
            if reason not in self._refused and len(self._refused) >= MAX_REFUSAL_KINDS:
                reason = _OTHER_REFUSALS
            first = reason not in self._refused
            self._refused[reason] += count
        if first:
            warnings.warn(
                f"runstream: not recorded: {safe_text(message)[:1000]} (run {self.name!r} goes "
                "on; counted in finish()'s report, warned once per subject and problem; "
                "init(strict=True) raises instead)",
                TrackingWarning,
                stacklevel=_caller_level(),
            )

    def _submit(
        self,
        payload: pb.SampleBatch
        | pb.ArtifactLogged
        | pb.SummaryUpdate
        | pb.RunStartedContinued
        | pb.DatasetVersion,
    ) -> None:
        self._check_active()
        self._recorder.submit(payload)

    def _submit_summary(self, update: pb.SummaryUpdate) -> None:
        if self._owner:
            self._submit(update)
            return
        self._check_active()
        rank = self.placement.rank
        self._count(
            f"summary on rank {rank}: rank 0 owns the run's summary",
            len(update.entries),
            f"summary {[entry.key for entry in update.entries]} on rank {rank}: rank 0 owns "
            "the summary of a distributed run (set it there, e.g. if run.placement.is_main)",
        )

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


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _watch_problem(
    model: object, every: object, batch_size: object, tokens: object
) -> InvalidInputError | None:
    """Why ``watch()``'s arguments cannot be used, or None (torch is imported only to check)."""
    try:
        import torch
    except ImportError:
        return InvalidValueError.of(
            "watch", "needs torch", ": install it with `pip install 'runstream[torch]'`"
        )
    if not isinstance(model, torch.nn.Module):
        return InvalidValueError.of(
            "watch model", "must be a torch.nn.Module", f", got {type(model).__name__}"
        )
    if type(every) is not int or every < 1:
        return InvalidValueError.of("watch every", "must be a positive int", f", got {every!r}")
    for name, value in (("batch_size", batch_size), ("tokens", tokens)):
        if value is not None and (type(value) is not int or value < 1):
            return InvalidValueError.of(
                f"watch {name}", "must be a positive int or None", f", got {value!r}"
            )
    return None


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside runstream."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _size(metrics: object) -> int:
    """How many values a refused ``log`` call held (1 when it is not even a mapping)."""
    return len(metrics) if isinstance(metrics, Mapping) else 1


def _not_a_mapping(metrics: object) -> InvalidValueError:
    return InvalidValueError.of(
        "log()",
        f"expects a mapping of metric names to numbers, got {type(metrics).__name__}",
        " (e.g. run.log({'loss': 0.25}); for pairs use run.log(dict(pairs)))",
    )


def _artifact_input(
    path: str | os.PathLike[str],
    name: str | None,
    kind: str,
    metadata: Mapping[str, str] | None,
) -> tuple[Path, str, dict[str, str]]:
    """The checked arguments of ``log_artifact``, or InvalidInputError naming the culprit."""
    try:
        source = Path(path)
        is_file = source.is_file()
    except (TypeError, ValueError, OSError) as exc:
        raise InvalidInputError.of("artifact path", f"not a usable path ({exc})") from None
    if not is_file:
        raise InvalidInputError(
            f"artifact {safe_text(str(source))!r}: not a file (directories: archive them first)",
            subject="artifact path",
            problem="not a file",
        )
    artifact_name = name or source.name
    problem = key_problem(artifact_name)
    if problem:
        raise InvalidKeyError.of(f"artifact name {artifact_name!r:.80}", problem)
    problem = text_problem(kind, what="kind", max_chars=MAX_KEY_LENGTH, control=False, empty=False)
    if problem:
        raise InvalidValueError.of(f"artifact {artifact_name!r} kind", problem)
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidValueError.of(
            f"artifact {artifact_name!r} metadata",
            f"expected a mapping of strings, got {type(metadata).__name__}",
        )
    clean: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        problem = key_problem(key)
        if problem:
            raise InvalidKeyError.of(
                f"artifact {artifact_name!r} metadata key {key!r:.80}", problem
            )
        problem = text_problem(value, what="value", max_bytes=MAX_TEXT_VALUE_BYTES)
        if problem:
            raise InvalidValueError.of(f"artifact {artifact_name!r} metadata {key!r}", problem)
        clean[key] = value
    return source, artifact_name, clean


def _dataset_input(path: str | os.PathLike[str], name: str | None, role: str) -> tuple[Path, str]:
    """The checked arguments of ``log_dataset``, or InvalidInputError naming the culprit."""
    try:
        source = Path(path)
        exists = source.is_file() or source.is_dir()
    except (TypeError, ValueError, OSError) as exc:
        raise InvalidInputError.of("dataset path", f"not a usable path ({exc})") from None
    if not exists:
        raise InvalidInputError(
            f"dataset {safe_text(str(source))!r}: no such file or directory",
            subject="dataset path",
            problem="no such file or directory",
        )
    dataset_name = name or source.resolve().name
    problem = text_problem(
        dataset_name, what="dataset name", max_chars=MAX_NAME_LENGTH, control=False, empty=False
    )
    if problem:
        raise InvalidKeyError.of(f"dataset name {dataset_name!r:.80}", problem)
    problem = text_problem(role, what="role", max_chars=MAX_NAME_LENGTH, control=False)
    if problem:
        raise InvalidValueError.of(f"dataset {dataset_name!r} role", problem)
    return source, dataset_name


def _recorded_root(root: Path) -> str:
    """The dataset's directory, relative to the working directory when under it (so a
    reproduction in another directory finds it at the same relative place)."""
    absolute = root.resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        return str(absolute)


def _warn_about(report: RunReport, name: str) -> None:
    if report.nonfinite_values:
        keys = ", ".join(report.nonfinite_keys[:10])
        logger.warning(
            "runstream: run %r logged %d NaN/Inf values (%s); they are stored and flagged",
            name,
            report.nonfinite_values,
            keys,
        )
    reasons = sorted(report.not_recorded.items(), key=lambda item: -item[1])
    for reason, count in reasons[:_LOGGED_REASONS]:
        logger.warning("runstream: run %r: %d %s", name, count, reason)
    if len(reasons) > _LOGGED_REASONS:
        logger.warning(
            "runstream: run %r: %d more reasons, %d values (see finish()'s report)",
            name,
            len(reasons) - _LOGGED_REASONS,
            sum(count for _, count in reasons[_LOGGED_REASONS:]),
        )


def status_at_exit() -> Status:
    """'failed' when the interpreter is exiting because of an uncaught exception."""
    error = getattr(sys, "last_value", None) or getattr(sys, "last_exc", None)
    if error is None:
        return "finished"
    return "killed" if isinstance(error, KeyboardInterrupt) else "failed"
