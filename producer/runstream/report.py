"""How a run ends: its status, and the report of what was recorded and what was not.

Kept apart from ``run.py`` so that ``import runstream`` can name these types without
importing the recorder and the protobuf runtime (see ``runstream/__init__.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["finished", "failed", "killed", "pruned"]
"""``pruned``: stopped early on purpose by a sweep's pruner (a trial, not a failure)."""


@dataclass(frozen=True)
class RunReport:
    """What ``finish()`` recorded, and everything it could not (never silent)."""

    run_id: str
    status: Status
    duration_s: float
    points: int
    events: int
    nonfinite_values: int
    nonfinite_keys: tuple[str, ...]
    not_recorded: dict[str, int] = field(default_factory=dict)
    """Counts by reason. Input a non-strict run refused is counted as
    ``"rejected: <subject>: <problem>"`` (``"rejected: metric 'acc': expected a number,
    got str"``), an artifact that could not be stored as ``"artifact '<name>': <why>"``,
    fields of the run's start cut to fit an envelope as ``"run_started.truncated"``."""

    @property
    def complete(self) -> bool:
        return not self.not_recorded
