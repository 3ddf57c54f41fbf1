"""NVIDIA GPUs through NVML (the ``pynvml`` module from nvidia-ml-py).

Without a driver (no GPU, CI) every function returns nothing and costs one
failed ``nvmlInit``; GPU sampling then stays off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("runstream")


@dataclass(frozen=True)
class GpuInventory:
    gpus: list[tuple[int, str, int, str]]
    """(index, name, total memory bytes, uuid) per device."""
    driver_version: str
    cuda_version: str


def _nvml() -> Any | None:
    """The initialized pynvml module, or None where NVML cannot start."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None
    return pynvml


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def inventory() -> GpuInventory | None:
    """Models, memory, driver and CUDA version of every GPU, or None without NVML."""
    nvml = _nvml()
    if nvml is None:
        return None
    gpus = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        gpus.append(
            (
                index,
                _text(nvml.nvmlDeviceGetName(handle)),
                int(memory.total),
                _text(nvml.nvmlDeviceGetUUID(handle)),
            )
        )
    cuda = nvml.nvmlSystemGetCudaDriverVersion()
    return GpuInventory(
        gpus=gpus,
        driver_version=_text(nvml.nvmlSystemGetDriverVersion()),
        cuda_version=f"{cuda // 1000}.{cuda % 1000 // 10}",
    )


class GpuSampler:
    """Reads utilization, memory, power and temperature of each GPU."""

    def __init__(self) -> None:
        self._nvml = _nvml()
        self._handles = []
        if self._nvml is not None:
            count = self._nvml.nvmlDeviceGetCount()
            self._handles = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]

    @property
    def available(self) -> bool:
        return bool(self._handles)

    def sample(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for index, handle in enumerate(self._handles):
            values.update(self._sample_one(index, handle))
        return values

    def _sample_one(self, index: int, handle: Any) -> dict[str, float]:
        nvml = self._nvml
        assert nvml is not None
        prefix = f"gpu.{index}."
        values: dict[str, float] = {}
        readers: dict[str, Callable[[], float]] = {
            "utilization_percent": lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu,
            "memory_used_bytes": lambda: nvml.nvmlDeviceGetMemoryInfo(handle).used,
            "power_watts": lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
            "temperature_c": lambda: nvml.nvmlDeviceGetTemperature(
                handle, nvml.NVML_TEMPERATURE_GPU
            ),
        }
        for name, read in readers.items():
            try:
                values[prefix + name] = float(read())
            except Exception:  # a sensor a device does not support (e.g. power on some boards)
                continue
        return values
