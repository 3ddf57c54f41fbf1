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


def mark_caught_up(client: Any, source: str = "spool") -> None:
    """Note in the store that ``source`` holds nothing more to take in, now.

    ``runstream.runs`` calls a run crashed (not delayed) when its heartbeat went overdue
    before such a mark: the pipeline delivered, the process stopped. Only embedded mode's
    CLI makes it (there the spool is the whole pipeline; with a server, Kafka runs may be
    delayed whatever the local spool says). One tiny insert, no Arrow; best effort.
    """
    try:
        client.command(
            "INSERT INTO runstream.pipeline_progress (source, caught_up_at) "
            "VALUES ({source:String}, now64(6))",
            parameters={"source": source},
        )
    except Exception:  # a store that refuses writes still answers queries
        logger.debug("could not mark the spool as taken in", exc_info=True)
