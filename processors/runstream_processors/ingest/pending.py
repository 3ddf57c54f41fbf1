"""How much of the spool the store has not taken in: cheap, so a query without news pays nothing.

Kept apart from ``spool.py`` so that asking imports neither the store client nor Arrow.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from runstream.spool import Checkpoint, SpoolReader

logger = logging.getLogger("runstream.ingest")

CONSUMER = "store"
"""The store's checkpoint name in the spool."""


def pending_bytes(spool_dir: Path) -> int:
    """Spooled bytes past the store's checkpoint."""
    if not spool_dir.exists():
        return 0
    return SpoolReader(spool_dir).pending_bytes(Checkpoint.load(spool_dir, CONSUMER))


def mark_caught_up(client: Any, source: str = "spool", at: float | None = None) -> None:
    """Note in the store that ``source`` held nothing more to take in at ``at`` (unix
    seconds; default: now).

    ``runstream.runs`` calls a run crashed (not delayed) when its heartbeat went overdue
    before such a mark: the pipeline delivered, the process stopped. Embedded mode's CLI
    makes it for the spool (there the spool is the whole pipeline; with a server, Kafka
    runs may be delayed whatever the local spool says), the Kafka worker for its group once
    its lag is 0. One tiny insert, no Arrow; best effort.
    """
    value = "now64(6)" if at is None else "fromUnixTimestamp64Micro({at:Int64})"
    parameters: dict[str, Any] = {"source": source}
    if at is not None:
        parameters["at"] = int(at * 1_000_000)
    try:
        client.command(
            "INSERT INTO runstream.pipeline_progress (source, caught_up_at) "
            f"VALUES ({{source:String}}, {value})",
            parameters=parameters,
        )
    except Exception:  # a store that refuses writes still answers queries
        logger.debug("could not mark the spool as taken in", exc_info=True)
