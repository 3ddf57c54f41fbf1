"""Every error the processors raise on purpose derives from :class:`ProcessorError`.

    ProcessorError
    ├── TerminalError        retrying cannot help: the event goes to the dead letters
    │   ├── InvalidEventError    malformed bytes, missing fields, bad values, unknown run
    │   └── StoreRefusedError    the store would not take a batch (not a connection problem)
    ├── TransientError       retrying may help: the batch is retried, offsets not committed
    │   ├── StoreUnavailableError
    │   └── StoreRefusedAllError  every event of a batch refused: the store is at fault
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


class StoreRefusedError(TerminalError):
    """The store refused a batch; ``written_tables`` had already taken the whole batch."""

    def __init__(self, message: str, written_tables: frozenset[str]) -> None:
        super().__init__(message)
        self.written_tables = written_tables


class TransientError(ProcessorError):
    """Retrying later may succeed."""


class StoreUnavailableError(TransientError):
    """The ClickHouse server did not answer."""


class StoreRefusedAllError(TransientError):
    """The store refused every event of a multi-event batch: retry the batch, keep the data."""


class StoreBusyError(ProcessorError):
    """The embedded store is owned by another process."""


class MigrationError(ProcessorError):
    """A schema migration failed."""


class QueryError(ProcessorError):
    """A query could not be answered."""
