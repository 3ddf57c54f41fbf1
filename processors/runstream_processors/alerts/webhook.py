"""Post new alerts to a webhook (Slack-compatible ``{"text": ...}``) without ever blocking ingest.

Alerts go into a bounded queue; one daemon thread posts them, with a few retries. Token
buckets limit posts per run and in all (a diverging sweep of fifty runs sends a handful of
messages, not fifty); what a bucket refuses or a full queue drops is counted and logged
once. The CLI's process ends right after its ingest, so :meth:`Notifier.flush` (called at
exit) gives the queue a few seconds to drain.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from runstream.settings import Settings, load_settings

from .rules import Alert

logger = logging.getLogger("runstream.alerts")

_ICONS = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}
_QUEUE = 1000
_ATTEMPTS = 3
_TIMEOUT_S = 5.0
_FLUSH_S = 5.0


@dataclass
class TokenBucket:
    """``rate`` tokens a minute, at most ``burst`` saved up."""

    rate_per_minute: float
    burst: float
    tokens: float = field(init=False)
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate_per_minute / 60)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def message(alert: Alert) -> dict[str, str]:
    """The Slack-compatible body of one alert."""
    icon = _ICONS.get(alert.severity, "")
    where = f" [{alert.metric} @ step {alert.step}]" if alert.metric else ""
    text = (
        f"{icon} runstream {alert.severity}: {alert.rule} in {alert.project}/{alert.run_id}"
        f"{where}: {alert.message}"
    )
    return {"text": text.strip()}


class Notifier:
    """Posts alerts to ``url`` on its own thread, rate limited per run and in all."""

    def __init__(self, url: str, per_minute: float = 20.0, per_run_per_minute: float = 5.0) -> None:
        self.url = url
        self.sent = 0
        self.limited = 0
        self.failed = 0
        self._global = TokenBucket(per_minute, burst=max(per_minute, 1.0))
        self._per_run_rate = per_run_per_minute
        self._runs: dict[tuple[str, str], TokenBucket] = {}
        self._queue: queue.Queue[Alert] = queue.Queue(_QUEUE)
        self._warned: set[str] = set()
        self._thread = threading.Thread(target=self._loop, name="runstream-alert-webhook")
        self._thread.daemon = True
        self._thread.start()

    def notify(self, alerts: list[Alert]) -> None:
        """Queue ``alerts`` for posting; never blocks, never raises."""
        for alert in alerts:
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                self.limited += 1
                self._warn_once("full", "the alert webhook queue is full; alerts are dropped")

    def flush(self, timeout: float = _FLUSH_S) -> None:
        """Wait up to ``timeout`` seconds for the queued alerts to be posted."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def _loop(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                if self._allowed(alert):
                    self._post(alert)
                else:
                    self.limited += 1
                    self._warn_once(
                        "limited", "alert webhook rate limit reached; some alerts not posted"
                    )
            except Exception:  # a bug here must not end the thread
                logger.debug("alert webhook failed", exc_info=True)
            finally:
                self._queue.task_done()

    def _allowed(self, alert: Alert) -> bool:
        run = self._runs.get((alert.project, alert.run_id))
        if run is None:
            burst = max(self._per_run_rate, 1.0)
            run = self._runs[alert.project, alert.run_id] = TokenBucket(self._per_run_rate, burst)
        return run.take() and self._global.take()

    def _post(self, alert: Alert) -> None:
        body = json.dumps(message(alert)).encode()
        for attempt in range(_ATTEMPTS):
            request = urllib.request.Request(
                self.url, body, {"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
                    response.read()
                self.sent += 1
                return
            except Exception as exc:
                if attempt == _ATTEMPTS - 1:
                    self.failed += 1
                    self._warn_once("post", f"could not post an alert to the webhook: {exc}")
                    return
                time.sleep(0.5 * 2**attempt)

    def _warn_once(self, what: str, text: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            logger.warning(text)


_NOTIFIERS: dict[str, Notifier] = {}
_LOCK = threading.Lock()


def notifier_for(settings: Settings | None = None) -> Notifier | None:
    """The process's notifier for ``RUNSTREAM_ALERT_WEBHOOK_URL``, or None when it is unset."""
    settings = settings if settings is not None else load_settings()
    url = settings.alert_webhook_url
    if not url:
        return None
    with _LOCK:
        found = _NOTIFIERS.get(url)
        if found is None:
            found = _NOTIFIERS[url] = Notifier(
                url, settings.alert_webhook_per_minute, settings.alert_webhook_per_run_per_minute
            )
            atexit.register(found.flush)
        return found
