"""Event kinds: what each payload of the Envelope means to the processors.

One module per kind holds its validation (``check``), its rows (``rows``) and the
Arrow schemas of the tables it declares; the list below registers them. The payload
field ↔ message mapping comes from the proto descriptor, and tests fail when a payload
field has no kind here, or when a declared schema disagrees with the migrated table.
See ``processors/README.md`` for the files a new kind touches.
"""

from __future__ import annotations

from . import (
    artifact,
    dataset,
    evaluation,
    heartbeat,
    metrics,
    run_finished,
    run_started,
    run_started_continued,
    samples,
    summary,
    system,
)
from .base import Kind
from .registry import PAYLOAD_FIELDS, Registry

REGISTRY = Registry(
    [
        run_started.KIND,
        run_started_continued.KIND,
        metrics.KIND,
        system.KIND,
        samples.KIND,
        artifact.KIND,
        dataset.KIND,
        summary.KIND,
        run_finished.KIND,
        heartbeat.KIND,
        evaluation.KIND,
    ]
)

__all__ = ["PAYLOAD_FIELDS", "REGISTRY", "Kind", "Registry"]
