"""The faust application: one agent over ``runstream.events.v1``, run until SIGTERM.

One agent with concurrency 1 per process: faust's agent concurrency would hand
batches of one partition to several coroutines and lose the per-run order (a run's
metrics could reach the store before its ``run_started``). Workers scale as
processes in one consumer group instead (``runstream worker --concurrency N``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import signal
import threading
import time
from typing import Any

from runstream.errors import MissingExtraError
from runstream.settings import Settings

from ..errors import ProcessorError, Stopping
from ..topics import ensure_topics, runstream_topics
from .dlq import MAX_REQUEST_SIZE, DeadLetterTopic
from .journal import Journal
from .options import WorkerOptions
from .outage import OutageLog
from .outage import install as install_outage_log
from .pipeline import Pipeline
from .store_writer import StoreWriter

logger = logging.getLogger("runstream.worker")

STOP_DEADLINE_S = 8.0
"""After SIGTERM/SIGINT the process is gone within this long, however stuck faust's
shutdown is (it may wait on an unreachable broker): then it exits with status 1."""

_QUIET_LOGGERS = {
    # kafka-python (journal, topics) logs every reconnect attempt of an outage as an error;
    # the journal's own retries already warn, with the count.
    "kafka": logging.CRITICAL,
    "aiokafka": logging.ERROR,
    "faust.transport": logging.WARNING,
    "mode.threads": logging.WARNING,
}


class WorkerError(ProcessorError):
    """The worker cannot start (no broker configured, faust missing, ...)."""


def run_worker(settings: Settings, options: WorkerOptions) -> int:
    """Consume until stopped; returns the process exit status."""
    bootstrap = _bootstrap(settings)
    ensure_topics(
        bootstrap, runstream_topics(settings.kafka_topic, options.partitions, options.dlq_topic)
    )
    stop = threading.Event()
    pipeline = Pipeline(
        StoreWriter(settings, Journal(bootstrap, options.group, settings.kafka_topic), stop), stop
    )
    pipeline.open()
    try:
        app = build_app(settings, options, bootstrap, pipeline, stop)
        code = _execute(app, options, stop, pipeline.outage)
        return 1 if pipeline.failure is not None else code
    finally:
        pipeline.close()


def build_app(
    settings: Settings,
    options: WorkerOptions,
    bootstrap: str,
    pipeline: Pipeline,
    stop: threading.Event | None = None,
) -> Any:
    """The faust App with the ingest agent and the stats timer wired to ``pipeline``.

    ``stop`` (the pipeline's, set when the worker stops) ends the DLQ's retry waits.
    """
    import faust

    datadir = settings.root / "worker"  # faust's own state; it creates only the last level
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        options.group,
        broker=[f"kafka://{host}" for host in bootstrap.split(",")],
        datadir=str(datadir),
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=True,
        broker_session_timeout=10.0,  # a killed worker's partitions move on after 10 s, not 60
        broker_heartbeat_interval=2.0,  # heartbeats run on faust's consumer thread, unblocked
        producer_acks=-1,
        producer_max_request_size=MAX_REQUEST_SIZE,
    )
    topic = app.topic(
        settings.kafka_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    pipeline.attach(
        DeadLetterTopic(app, options.dlq_topic, settings.kafka_topic, stop, outage=pipeline.outage),
        _highwater(app, settings.kafka_topic),
    )

    async def ingest(stream: Any) -> None:
        async for events in stream.take_events(options.batch_size, within=options.batch_wait_s):
            try:
                await pipeline.handle(events)
            except Stopping:
                return
            except Exception as exc:  # a bug, not bad input (that becomes dead letters)
                _fail(pipeline, exc)
                return

    async def report() -> None:
        pipeline.outage.tick()
        pipeline.stats.report()
        await pipeline.check_alerts()

    async def progress() -> None:
        await _mark_if_caught_up(app, settings.kafka_topic, pipeline, options)

    app.agent(topic, name="runstream-ingest", concurrency=1)(ingest)
    app.timer(options.stats_interval_s)(report)
    app.timer(options.progress_interval_s)(progress)
    return app


async def _mark_if_caught_up(
    app: Any, topic: str, pipeline: Pipeline, options: WorkerOptions
) -> None:
    """Mark ``worker:<group>`` caught up when the store holds every record of every partition
    assigned to this worker, up to high watermarks asked of the broker just now.

    Asked, not cached: the consumer's cached high watermark stays put while the broker is
    away, and a mark then would call every overdue run crashed. No answer, no mark: a
    broker outage keeps overdue runs delayed.
    """
    tps = [tp for tp in app.consumer.assignment() if tp.topic == topic]
    if not tps:
        return
    at = time.time()
    try:
        async with asyncio.timeout(options.progress_interval_s):
            highwaters = await app.consumer.highwaters(*tps)
            positions = {tp.partition: await app.consumer.position(tp) for tp in tps}
    except Exception:  # the broker is away or the group rebalances: say nothing
        logger.debug("no caught-up mark: the high watermarks are unknown", exc_info=True)
        return
    fresh = {tp.partition: int(offset) for tp, offset in highwaters.items()}
    if len(fresh) == len(tps) and pipeline.behind(fresh, positions) == 0:
        await pipeline.mark_caught_up(f"worker:{options.group}", at)


def _fail(pipeline: Pipeline, exc: Exception) -> None:
    """Stop the whole worker, with exit status 1, the way SIGTERM does.

    faust would restart a crashed agent and carry on past the failed batch, whose records
    stay unacknowledged (see pipeline.py): the committed offset would be stuck behind them
    for as long as the process lives. Exiting lets a restart replay them instead.
    """
    logger.critical("stopping the worker after an unexpected error", exc_info=exc)
    pipeline.failure = exc
    os.kill(os.getpid(), signal.SIGTERM)


def _execute(app: Any, options: WorkerOptions, stop: threading.Event, outage: OutageLog) -> int:
    from faust.worker import Worker as FaustWorker

    class Worker(FaustWorker):  # the same name: its log lines read "[^Worker]: Ready"
        def install_signal_handlers(self) -> None:
            super().install_signal_handlers()
            _arm_on_signals(stop)

        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            install_outage_log(outage, logger)

    worker = Worker(app, loglevel=options.log_level, quiet=True, redirect_stdouts=False)
    for name, level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover - execute_from_commandline always exits
        code = 0
    return code or (1 if app.crash_reason is not None else 0)


def _arm_on_signals(stop: threading.Event) -> None:
    """On SIGTERM/SIGINT: end every retry wait at once and start the hard deadline.

    faust (through asyncio) keeps handling the signal: asyncio's C-level handler wakes its
    loop through the wakeup fd, the Python-level handler it installs does nothing, so ours
    takes that place. It runs in the main thread even while the loop is blocked.
    """
    armed: list[threading.Thread] = []

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()
        if armed:
            return
        logger.info(
            "stopping (signal %d); exiting within %.0f s at the latest", signum, STOP_DEADLINE_S
        )
        watchdog = threading.Thread(
            target=_exit_after, args=(STOP_DEADLINE_S,), name="runstream-stop-deadline", daemon=True
        )
        armed.append(watchdog)
        watchdog.start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)


def _exit_after(seconds: float) -> None:
    time.sleep(seconds)
    logger.critical(
        "the worker did not stop within %.0f s of the stop signal (the broker or the store "
        "may be unreachable); exiting now with status 1, unacknowledged records are "
        "consumed again after a restart",
        seconds,
    )
    logging.shutdown()
    os._exit(1)


def _highwater(app: Any, topic: str) -> Any:
    from faust.types import TP

    def highwater(partition: int) -> int | None:
        tp = TP(topic, partition)
        try:
            if tp not in app.consumer.assignment():
                return None
            return int(app.consumer.highwater(tp))
        except Exception:  # not assigned yet or the consumer is restarting
            return None

    return highwater


def _bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise WorkerError("the worker consumes Kafka: set RUNSTREAM_KAFKA_BOOTSTRAP=host:port")
    for module, distribution in (("faust", "faust-streaming"), ("kafka", "kafka-python")):
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(distribution, "worker")
    return settings.kafka_bootstrap
