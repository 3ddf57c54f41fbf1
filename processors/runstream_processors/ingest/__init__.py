"""From bytes to the store: one core (``core.py``) and the embedded spool source (``spool.py``).

The Kafka worker (``worker/``) is the other source; it drives the same core.
"""

from .core import Incoming, IngestCore, Outcome
from .spool import IngestReport, ingest_spool, pending_bytes

__all__ = ["Incoming", "IngestCore", "IngestReport", "Outcome", "ingest_spool", "pending_bytes"]
