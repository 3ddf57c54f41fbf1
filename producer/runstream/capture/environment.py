"""The software and hardware of a run: Python, every installed package, OS, CPU, memory, GPUs."""

from __future__ import annotations

import functools
import getpass
import importlib.metadata
import os
import platform
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..limits import safe_text
from ..redaction import Scrubber, is_credential_key
from ..settings import environment_snapshot
from ..wire import events_pb2 as pb
from . import gpu

MAX_VARIABLE_BYTES = 4096
_RECORDED_ELSEWHERE = frozenset({"RUNSTREAM_REPRODUCES"})
"""Set by ``runstream reproduce`` and recorded as ``RunStarted.reproduces``: a run id that
the value rules would take for a token, and that would make every reproduction differ."""


def capture_environment(
    determinism: dict[str, str], scrubber: Scrubber | None = None
) -> pb.Environment:
    """Everything needed to rebuild the software environment and judge the hardware;
    ``scrubber`` counts the secrets taken out of the environment variables."""
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
        variables=environment_variables(scrubber),
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


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    direct_url: str | None
    """PEP 610's ``direct_url.json`` of a distribution installed from a URL, VCS or path."""


def installed() -> tuple[Installed, ...]:
    """Every distribution importable by this interpreter, first of each name (as imports
    resolve). Read once per ``sys.path``: reading every package's metadata takes ~0.4 s, and
    a sweep starts many runs in one process."""
    return _installed(tuple(sys.path))


@functools.lru_cache(maxsize=4)
def _installed(path: tuple[str, ...]) -> tuple[Installed, ...]:
    found: dict[str, Installed] = {}
    installed_by_pip: set[str] = set()
    for distribution in importlib.metadata.distributions(path=list(path)):
        name = distribution.metadata["Name"]
        if not name:
            continue
        # A ``.dist-info`` is what an installer wrote; a ``.egg-info`` beside the sources
        # (left by a build of an editable install, found through the working directory)
        # names the same project without saying where it was installed from.
        by_pip = str(getattr(distribution, "_path", "")).endswith(".dist-info")
        key = name.lower()
        if key not in found or (by_pip and key not in installed_by_pip):
            found[key] = Installed(
                name, distribution.version, distribution.read_text("direct_url.json")
            )
            if by_pip:
                installed_by_pip.add(key)
    return tuple(found[key] for key in sorted(found))


def installed_packages() -> list[tuple[str, str]]:
    """(name, exact version) of every distribution importable by this interpreter."""
    return [(package.name.lower(), package.version) for package in installed()]


def environment_variables(scrubber: Scrubber | None = None) -> dict[str, str]:
    """Environment variables with credentials removed (see :mod:`runstream.redaction`);
    other values longer than MAX_VARIABLE_BYTES are left out."""
    variables = {
        safe_text(key): safe_text(value)  # undecodable bytes arrive as lone surrogates
        for key, value in environment_snapshot().items()
        if (len(value) <= MAX_VARIABLE_BYTES or is_credential_key(key))
        and key not in _RECORDED_ELSEWHERE
    }
    return (scrubber or Scrubber()).values(variables)


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
