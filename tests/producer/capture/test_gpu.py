"""GPU inventory and sampling through NVML: nothing (no error) without it, real values with it."""

from __future__ import annotations

import re
import sys

import pytest
from runstream.capture import gpu
from runstream.capture.environment import capture_environment


def _nvml_problem() -> str | None:
    """Why NVML cannot be used here, or None when it can."""
    try:
        import pynvml
    except ImportError as exc:
        return f"pynvml is not importable ({exc})"
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        return f"NVML does not start: {type(exc).__name__}: {exc}"
    try:
        if pynvml.nvmlDeviceGetCount() == 0:
            return "NVML sees no NVIDIA GPU"
    finally:
        pynvml.nvmlShutdown()
    return None


def test_without_the_nvml_module_there_is_no_inventory_and_no_sampling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` now raises ImportError
    assert gpu.inventory() is None
    sampler = gpu.GpuSampler()
    assert not sampler.available
    assert sampler.sample() == {}


def test_inventory_is_none_exactly_when_nvml_cannot_start() -> None:
    """On this machine, whatever it is: no NVML means None (never an exception)."""
    problem = _nvml_problem()
    inventory = gpu.inventory()
    if problem is not None:
        assert inventory is None, problem
    else:
        assert inventory is not None and inventory.gpus


@pytest.mark.gpu
def test_real_gpus_are_inventoried_and_sampled() -> None:
    problem = _nvml_problem()
    if problem is not None:
        pytest.skip(f"needs an NVIDIA GPU with NVML: {problem}")
    import pynvml

    inventory = gpu.inventory()
    assert inventory is not None
    pynvml.nvmlInit()
    assert len(inventory.gpus) == pynvml.nvmlDeviceGetCount()
    for position, (index, name, memory, uuid) in enumerate(inventory.gpus):
        assert index == position
        assert name and isinstance(name, str)
        assert memory >= 1024**3, "every NVIDIA GPU has at least 1 GiB"
        assert uuid.startswith(("GPU-", "MIG-"))
    assert re.fullmatch(r"\d+\.\d+(\.\d+)*", inventory.driver_version)
    assert re.fullmatch(r"\d+\.\d+", inventory.cuda_version), inventory.cuda_version

    sampler = gpu.GpuSampler()
    assert sampler.available
    values = sampler.sample()
    for index, (_, _, memory, _) in enumerate(inventory.gpus):
        assert 0 <= values[f"gpu.{index}.utilization_percent"] <= 100
        assert 0 < values[f"gpu.{index}.memory_used_bytes"] <= memory
        if f"gpu.{index}.temperature_c" in values:
            assert 0 < values[f"gpu.{index}.temperature_c"] < 120

    environment = capture_environment({})
    assert [g.uuid for g in environment.gpus] == [uuid for _, _, _, uuid in inventory.gpus]
    assert environment.gpu_driver_version == inventory.driver_version
