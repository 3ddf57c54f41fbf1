"""Why a rerun with the same config could still differ: what ``init`` warns about and records."""

from __future__ import annotations

import sys

from ..settings import env_value

NONDETERMINISTIC_KEY = "nondeterministic"
"""The ``determinism`` entry listing the reasons, ``; ``-separated (absent: none found)."""


def nondeterminism(seed: int | None) -> list[str]:
    """The reasons this process is not deterministic by construction (empty: none known).

    torch is judged only when the script imported it already (never imported here).
    """
    reasons: list[str] = []
    if seed is None:
        reasons.append("no seed (pass init(seed=...))")
    if not env_value("PYTHONHASHSEED"):
        reasons.append("PYTHONHASHSEED is random (set PYTHONHASHSEED=0 for set/dict orders)")
    torch = sys.modules.get("torch")
    if torch is None:
        return reasons
    if not torch.are_deterministic_algorithms_enabled():
        reasons.append(
            "torch deterministic algorithms are off (torch.use_deterministic_algorithms(True))"
        )
    if torch.backends.cudnn.benchmark:
        reasons.append("cuDNN benchmark is on (torch.backends.cudnn.benchmark = False)")
    cuda = getattr(torch, "cuda", None)
    if cuda is not None and cuda.is_available() and not env_value("CUBLAS_WORKSPACE_CONFIG"):
        reasons.append("CUDA without CUBLAS_WORKSPACE_CONFIG (set it to :4096:8)")
    return reasons
