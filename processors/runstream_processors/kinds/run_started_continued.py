"""``run_started_continued``: params and packages that did not fit in ``run_started``."""

from __future__ import annotations

from runstream.wire import events_pb2 as pb

from ..tables import TableRows
from .base import Kind
from .checks import check_keys
from .run_started import params_and_packages


def check(envelope: pb.Envelope) -> None:
    check_keys("param", (param.key for param in envelope.run_started_continued.params))


def rows(envelope: pb.Envelope, out: TableRows) -> None:
    more = envelope.run_started_continued
    params_and_packages(envelope, out, more.params, more.packages)


KIND = Kind(field="run_started_continued", check=check, rows=rows)
