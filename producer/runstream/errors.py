"""Every error the SDK raises on purpose derives from :class:`RunstreamError`.

    RunstreamError
    ├── InvalidInputError (also ValueError)   bad key, value, config or sample; names the culprit
    │   ├── InvalidKeyError
    │   ├── InvalidValueError
    │   └── InvalidConfigError
    ├── RunStateError (also RuntimeError)     no run, logging after finish(), two runs at once
    ├── UnreproducibleCodeError               init(strict_code=True): the code could not be
    │   (also RuntimeError)                   rebuilt from what would be recorded
    ├── MissingExtraError (also ImportError)  an optional dependency is not installed
    ├── SpoolError (also OSError)             the local spool could not be read or written
    ├── TransientError                        retrying later may help; ``retry_after`` suggests when
    │   └── ServiceUnavailableError           Kafka or the object store did not answer
    │       └── _DeliveryFailed               [runstream.shipper] Kafka refused a record; resent
    ├── StopRequested                         a stop request ended a runstream.backoff wait
    ├── TrackingWarning (also RuntimeWarning) a warning, not raised: something a call passed
    │                                         was not recorded (counted in finish()'s report)
    ├── DeterminismWarning (also UserWarning) a warning at init: the run is not deterministic
    │                                         by construction (recorded with the run)
    └── ObjectStoreError (also OSError)       the S3 object store failed or refused a request
        ├── ArtifactMissingError              the object (or its bucket) does not exist
        ├── ArtifactIntegrityError            bytes do not match the recorded SHA-256 or size
        └── ObjectStoreUnavailableError       the server did not answer or said "later" (5xx,
                                              SlowDown); also a ServiceUnavailableError

Where a class lives elsewhere, the tree names the module in brackets; the object-store
errors are defined in ``runstream.artifacts.s3`` (and exported from ``runstream.artifacts``),
next to the code that raises them. tests/test_error_tree.py checks that every exception
class of the package derives from RunstreamError and is drawn here.

Retry or give up is decided by the class alone: a :class:`TransientError` is worth retrying
(with :class:`runstream.backoff.Backoff`, which honours its ``retry_after``); anything else
is not. The processors' errors (``runstream_processors.errors``) derive from this root too.

Input errors are raised after everything valid in the same call was recorded,
so a bad value never costs the good ones. Calls on a run (``log``, ``log_samples``,
``log_artifact``, ``summary[...] =``) raise them only in a strict run
(``init(strict=True)`` or ``RUNSTREAM_STRICT=1``); otherwise what they refuse is
counted in the run's report and warned about once per subject and problem with a
:class:`TrackingWarning`, so a stray value never ends a training job.
"""

from __future__ import annotations

from typing import Self


class RunstreamError(Exception):
    """Root of the SDK's errors."""


class InvalidInputError(RunstreamError, ValueError):
    """Something passed to the SDK cannot be recorded as given.

    ``subject`` names what was refused (``metric 'acc'``, ``split``) and ``problem`` says
    why, without the value itself: together they are the stable key a non-strict run
    counts the refusal under. The message is ``subject: problem`` plus details.
    """

    def __init__(self, message: str, *, subject: str = "", problem: str = "") -> None:
        super().__init__(message)
        self.subject = subject
        self.problem = problem or message

    @classmethod
    def of(cls, subject: str, problem: str, detail: str = "") -> Self:
        """An error whose message is ``subject: problem`` followed by ``detail``."""
        return cls(f"{subject}: {problem}{detail}", subject=subject, problem=problem)


class InvalidKeyError(InvalidInputError):
    """A metric, param or summary key is empty, too long or malformed."""


class InvalidValueError(InvalidInputError):
    """A value has the wrong type (e.g. a string where a number is expected)."""


class InvalidConfigError(InvalidInputError):
    """A config value cannot be serialized into a typed param."""


class RunStateError(RunstreamError, RuntimeError):
    """The call does not fit the run's state (none active, finished, or one already active)."""


class MissingExtraError(RunstreamError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module!r} is not installed: install it with `pip install 'runstream[{extra}]'`"
        )
        self.module = module
        self.extra = extra


class SpoolError(RunstreamError, OSError):
    """The local spool (the durable event log) failed."""


class TransientError(RunstreamError):
    """Retrying later may succeed; ``retry_after`` is how long the raiser suggests waiting.

    ``retry_after`` is in seconds, or None when the raiser has no opinion (the caller's
    backoff decides alone).
    """

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after


class ServiceUnavailableError(TransientError):
    """A service the SDK ships to (Kafka, the object store) did not answer, or asked to wait."""


class UnreproducibleCodeError(RunstreamError, RuntimeError):
    """``init(strict_code=True)`` refused to start: the recorded code would not rebuild the
    code that runs (a truncated diff, untracked binaries, no repository and no script)."""


class DeterminismWarning(RunstreamError, UserWarning):
    """Warned by ``init`` when a rerun could differ by construction: no seed, torch's
    deterministic algorithms off, cuDNN benchmark on, a random ``PYTHONHASHSEED``, or CUDA
    without ``CUBLAS_WORKSPACE_CONFIG``. The reasons are recorded with the run
    (``determinism["nondeterministic"]``); ``init(warn_nondeterministic=False)`` keeps quiet."""


class TrackingWarning(RunstreamError, RuntimeWarning):
    """Warned (never raised by the SDK) when a call's input was not recorded; the run goes on.

    Issued once per subject and problem of a run; every occurrence is counted in the
    ``not_recorded`` of ``finish()``'s report. ``warnings.simplefilter("error",
    TrackingWarning)`` turns them into exceptions.
    """


class StopRequested(RunstreamError):
    """A stop was requested while waiting to retry: give up the attempt now."""
