"""The software and hardware of a run: Python, every installed package, OS, CPU, memory, GPUs."""

from __future__ import annotations

import getpass
import importlib.metadata
import os
import platform
import re
import socket
import sys
from pathlib import Path

import psutil

from ..redaction import REDACTED, is_credential_key
from ..settings import environment_snapshot
from ..wire import events_pb2 as pb
from . import gpu

MAX_VARIABLE_BYTES = 4096
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^@/\s]+@")


def capture_environment(determinism: dict[str, str]) -> pb.Environment:
    """Everything needed to rebuild the software environment and judge the hardware."""
    environment = pb.Environment(
        python_version=platform.python_version(),
        python_executable=sys.executable,
        os=platform.platform(),
        hostname=socket.gethostname(),
        user=_user(),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 0,
        memory_total_bytes=psutil.virtual_memory().total,
        packages=[pb.Package(name=name, version=version) for name, version in installed_packages()],
        variables=environment_variables(),
        determinism=determinism,
    )
    gpus = gpu.inventory()
    if gpus is not None:
        environment.gpus.extend(
            pb.Gpu(index=index, name=name, memory_total_bytes=memory, uuid=uuid)
            for index, name, memory, uuid in gpus.gpus
        )
        environment.gpu_driver_version = gpus.driver_version
        environment.cuda_version = gpus.cuda_version
    return environment


def installed_packages() -> list[tuple[str, str]]:
    """(name, exact version) of every distribution importable by this interpreter."""
    found: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name and name.lower() not in found:
            found[name.lower()] = distribution.version
    return sorted(found.items())


def environment_variables() -> dict[str, str]:
    """Environment variables with credentials removed (by key, and passwords inside URLs)."""
    captured = {}
    for key, value in environment_snapshot().items():
        if is_credential_key(key):
            captured[key] = REDACTED
        elif len(value) <= MAX_VARIABLE_BYTES:
            captured[key] = _URL_PASSWORD.sub(rf"\1{REDACTED}@", value)
    return captured


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else ""
