"""Every error the processors raise on purpose derives from :class:`ProcessorError`.

ProcessorError derives from the SDK's root, :class:`runstream.errors.RunstreamError`, so
``except RunstreamError`` catches both packages' errors.

    ProcessorError (a runstream.errors.RunstreamError)
    ├── TerminalError          retrying cannot help: the event goes to the dead letters
    │   ├── InvalidEventError      malformed bytes, missing fields, bad values, unknown run
    │   └── StoreRefusedError      the store would not take a batch (not a connection problem)
    ├── TransientError         retrying may help: the batch is retried, offsets not committed;
    │   │                      also runstream.errors.TransientError (carries ``retry_after``)
    │   ├── StoreUnavailableError  the ClickHouse server did not answer
    │   ├── StoreRefusedAllError   every event of a batch refused: the store, not the data
    │   └── JournalError           [worker/journal.py] Kafka did not answer a journal request
    ├── Stopping               the worker is stopping: a retry wait ended, the batch is given
    │                          up unacknowledged; also runstream.errors.StopRequested
    ├── StoreBusyError         another process owns the embedded store
    ├── CheckpointSaveError    [ingest/spool.py] the spool checkpoint could not be saved
    │                          (a full disk); what was taken in stays, a rerun resumes
    ├── NoStoreError           the CLI found no store (and no spool) where it looked
    ├── MigrationError         the schema could not be brought up to date
    ├── QueryError             a query failed (bad SQL, unknown run, ...), message from the engine
    ├── GrafanaError           `runstream dashboards push` could not install into a Grafana
    ├── ReproduceError         a run's code, environment or data could not be rebuilt
    ├── TopicsError            [topics.py] Kafka topics could not be created or inspected
    └── WorkerError            [worker/app.py] the worker cannot start (no broker, no faust)

Where a class lives elsewhere, the tree names the module in brackets.
The ClickHouse HTTP front end, ``chdb_http``, is a package of its own with its own root.
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


class StoreRefusedError(TerminalError):
    """The store refused a batch; ``written_tables`` had already taken the whole batch."""

    def __init__(self, message: str, written_tables: frozenset[str]) -> None:
        super().__init__(message)
        self.written_tables = written_tables


class TransientError(ProcessorError, _SdkTransientError):
    """Retrying later may succeed; ``retry_after`` (seconds or None) suggests when."""


class StoreUnavailableError(TransientError):
    """The ClickHouse server did not answer."""


class StoreRefusedAllError(TransientError):
    """The store refused every event of a multi-event batch: retry the batch, keep the data."""


class Stopping(ProcessorError, StopRequested):
    """The worker is stopping: give up the current batch (it is not acknowledged)."""


class StoreBusyError(ProcessorError):
    """The embedded store is owned by another process."""


class CheckpointSaveError(ProcessorError, OSError):
    """The spool checkpoint could not be saved: the events taken in stay in the store, and
    the next ingest replays from the last saved checkpoint (replays are harmless)."""


class NoStoreError(ProcessorError):
    """No store where the CLI looks: no embedded store, no spool, no server configured."""


class MigrationError(ProcessorError):
    """A schema migration failed."""


class QueryError(ProcessorError):
    """A query could not be answered."""


class GrafanaError(ProcessorError):
    """A Grafana refused or did not answer what ``runstream dashboards push`` sent."""


class ReproduceError(ProcessorError):
    """``runstream reproduce`` could not rebuild what the run recorded (no code recorded, the
    commit is nowhere to be found, a stored diff does not apply, data not stored)."""
