"""Every error the SDK raises on purpose derives from :class:`RunstreamError`.

    RunstreamError
    ├── InvalidInputError (also ValueError)   bad key, value, config or sample; names the culprit
    │   ├── InvalidKeyError
    │   ├── InvalidValueError
    │   └── InvalidConfigError
    ├── RunStateError (also RuntimeError)     no run, logging after finish(), two runs at once
    ├── MissingExtraError (also ImportError)  an optional dependency is not installed
    ├── SpoolError (also OSError)             the local spool could not be read or written
    └── ObjectStoreError (also OSError)       the S3 object store failed or refused a request
        ├── ArtifactMissingError              the object (or its bucket) does not exist
        └── ArtifactIntegrityError            bytes do not match the recorded SHA-256 or size

The object-store errors are defined in ``runstream.artifacts.s3`` (and exported from
``runstream.artifacts``), next to the code that raises them.

Input errors are raised after everything valid in the same call was recorded,
so a bad value never costs the good ones.
"""

from __future__ import annotations


class RunstreamError(Exception):
    """Root of the SDK's errors."""


class InvalidInputError(RunstreamError, ValueError):
    """Something passed to the SDK cannot be recorded as given."""


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
