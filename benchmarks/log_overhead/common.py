"""What every part shares: the logged dict, sizes and paths."""

from __future__ import annotations

import math
from pathlib import Path

KEYS: tuple[str, ...] = tuple(f"metric_{j}" for j in range(10))
_KEY_OFFSETS: tuple[tuple[str, float], ...] = tuple((key, float(j)) for j, key in enumerate(KEYS))
FULL_MEMORY_CALLS = 1_000_000
MB = 1024 * 1024
PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "log_overhead.json"


def metrics_for(step: int) -> dict[str, float]:
    """The dict logged at ``step``: 10 keys, values that change every step."""
    x = math.sin(step * 1e-3)
    return {key: x + offset for key, offset in _KEY_OFFSETS}
