"""Seed python, numpy and torch, and record the determinism settings that were in force."""

from __future__ import annotations

import random
import sys

from ..settings import env_value


def seed_everything(seed: int) -> None:
    """Seed ``random``, numpy (if installed) and torch (if the script already imported it).

    torch is not imported here: it costs seconds and training scripts import it
    before calling ``runstream.init`` anyway.
    """
    random.seed(seed)
    try:
        import numpy
    except ImportError:
        pass
    else:
        numpy.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def determinism_settings(seed: int | None) -> dict[str, str]:
    """Everything that decides whether a rerun can be bit-identical."""
    settings = {"python.hash_seed": env_value("PYTHONHASHSEED") or "random"}
    if seed is not None:
        settings["seed"] = str(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        settings["torch.version"] = str(torch.__version__)
        settings["torch.deterministic_algorithms"] = str(
            torch.are_deterministic_algorithms_enabled()
        )
        cudnn = torch.backends.cudnn
        settings["torch.cudnn.deterministic"] = str(cudnn.deterministic)
        settings["torch.cudnn.benchmark"] = str(cudnn.benchmark)
        settings["torch.initial_seed"] = str(torch.initial_seed())
        cuda_build = getattr(getattr(torch, "version", None), "cuda", None)
        if cuda_build:
            settings["torch.cuda.version"] = str(cuda_build)
            settings["torch.cudnn.version"] = str(cudnn.version())
    cublas_workspace = env_value("CUBLAS_WORKSPACE_CONFIG")
    if cublas_workspace is not None:
        settings["CUBLAS_WORKSPACE_CONFIG"] = cublas_workspace
    return settings
