"""Every error the processors raise on purpose derives from :class:`ProcessorError`.

    ProcessorError
    ├── TerminalError        retrying cannot help: the event goes to the dead letters
    │   └── InvalidEventError    malformed bytes, missing fields, bad values, unknown run
    ├── TransientError       retrying may help: the batch is retried, offsets not committed
    │   └── StoreUnavailableError
    ├── StoreBusyError       another process owns the embedded store
    ├── MigrationError       the schema could not be brought up to date
    └── QueryError           a query failed (bad SQL, unknown run, ...), message from the engine

A sink or consumer decides retry vs dead-letter by the class alone.
"""

from __future__ import annotations


class ProcessorError(Exception):
    """Root of the processors' errors."""


class TerminalError(ProcessorError):
    """Retrying will not help."""


class InvalidEventError(TerminalError):
    """An event fails validation; ``reason`` is a short stable label for dashboards."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TransientError(ProcessorError):
    """Retrying later may succeed."""


class StoreUnavailableError(TransientError):
    """The ClickHouse server did not answer."""


class StoreBusyError(ProcessorError):
    """The embedded store is owned by another process."""


class MigrationError(ProcessorError):
    """A schema migration failed."""


class QueryError(ProcessorError):
    """A query could not be answered."""
