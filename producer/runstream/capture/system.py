"""Periodic system stats: host CPU and memory, this process, and GPUs when present."""

from __future__ import annotations

import socket
import time

import psutil

from ..wire import events_pb2 as pb
from .gpu import GpuSampler


class SystemSampler:
    """Callable that returns one SystemStats payload per call (from the recorder thread)."""

    def __init__(self, gpu: GpuSampler | None = None) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement window
        psutil.cpu_percent(None)
        self._gpu = gpu if gpu is not None else GpuSampler()
        self._hostname = socket.gethostname()

    def read(self) -> dict[str, float]:
        memory = psutil.virtual_memory()
        with self._process.oneshot():
            values = {
                "cpu.percent": psutil.cpu_percent(None),
                "process.cpu_percent": self._process.cpu_percent(None),
                "process.rss_bytes": float(self._process.memory_info().rss),
                "process.threads": float(self._process.num_threads()),
                "memory.used_bytes": float(memory.total - memory.available),
                "memory.percent": memory.percent,
            }
        if self._gpu.available:
            values.update(self._gpu.sample())
        return values

    def __call__(self) -> pb.SystemStats:
        values = self.read()
        now = time.time_ns()
        return pb.SystemStats(
            hostname=self._hostname,
            keys=list(values),
            key_index=list(range(len(values))),
            values=list(values.values()),
            time_unix_nano=[now] * len(values),
        )
