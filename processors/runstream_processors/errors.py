"""Every error the processors raise on purpose derives from :class:`ProcessorError`.

ProcessorError derives from the SDK's root, :class:`runstream.errors.RunstreamError`, so
``except RunstreamError`` catches both packages' errors.

    ProcessorError (a runstream.errors.RunstreamError)
    ├── TerminalError          retrying cannot help: the event goes to the dead letters
    │   └── InvalidEventError      malformed bytes, missing fields, bad values, unknown run
    ├── TransientError         retrying may help: the batch is retried, offsets not committed;
    │   │                      also runstream.errors.TransientError (carries ``retry_after``)
    │   ├── StoreUnavailableError  the ClickHouse server did not answer
    │   └── JournalError           [worker/journal.py] Kafka did not answer a journal request
    ├── Stopping               the worker is stopping: a retry wait ended, the batch is given
    │                          up unacknowledged; also runstream.errors.StopRequested
    ├── StoreBusyError         another process owns the embedded store
    ├── MigrationError         the schema could not be brought up to date
    ├── QueryError             a query failed (bad SQL, unknown run, ...), message from the engine
    ├── TopicsError            [topics.py] Kafka topics could not be created or inspected
    ├── WorkerError            [worker/app.py] the worker cannot start (no broker, no faust)
    └── _StoreProblem          [worker/store_writer.py] every event of a chunk failed: the
                               store is at fault, retried like a TransientError (for now still
                               a plain Exception, until store_writer.py's rewrite derives it)

Where a class lives elsewhere, the tree names the module in brackets.
``runstream_processors.server`` (the ClickHouse HTTP front end) is not part of this tree:
it is moving to its own package, ``chdb_http``, with its own root.
tests/test_error_tree.py checks that every exception class of the package derives from
ProcessorError and is drawn here.

A sink or consumer decides retry vs dead-letter by the class alone; retries wait with
:class:`runstream.backoff.Backoff`, which honours a TransientError's ``retry_after``.
"""

from __future__ import annotations

from runstream.errors import RunstreamError, StopRequested
from runstream.errors import TransientError as _SdkTransientError


class ProcessorError(RunstreamError):
    """Root of the processors' errors."""


class TerminalError(ProcessorError):
    """Retrying will not help."""


class InvalidEventError(TerminalError):
    """An event fails validation; ``reason`` is a short stable label for dashboards."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TransientError(ProcessorError, _SdkTransientError):
    """Retrying later may succeed; ``retry_after`` (seconds or None) suggests when."""


class StoreUnavailableError(TransientError):
    """The ClickHouse server did not answer."""


class Stopping(ProcessorError, StopRequested):
    """The worker is stopping: give up the current batch (it is not acknowledged)."""


class StoreBusyError(ProcessorError):
    """The embedded store is owned by another process."""


class MigrationError(ProcessorError):
    """A schema migration failed."""


class QueryError(ProcessorError):
    """A query could not be answered."""
