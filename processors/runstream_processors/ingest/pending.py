"""How much of the spool the store has not taken in: cheap, so a query without news pays nothing.

Kept apart from ``spool.py`` so that asking imports neither the store client nor Arrow.
"""

from __future__ import annotations

from pathlib import Path

from runstream.spool import Checkpoint, SpoolReader

CONSUMER = "store"
"""The store's checkpoint name in the spool."""


def pending_bytes(spool_dir: Path) -> int:
    """Spooled bytes past the store's checkpoint."""
    if not spool_dir.exists():
        return 0
    return SpoolReader(spool_dir).pending_bytes(Checkpoint.load(spool_dir, CONSUMER))
