"""A lock-style requirements file of the running interpreter: ``uv pip install -r`` takes it.

Every installed distribution pinned to its exact version; one installed from a URL, a VCS
or a local directory (an editable install) is named by that source (PEP 610's
``direct_url.json``), since no index holds its version.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform

from ..redaction import Scrubber


def requirements_lock(scrubber: Scrubber | None = None) -> bytes:
    """``name==version`` lines (or ``name @ url``, credentials taken out of the URL by
    ``scrubber``), sorted by name."""
    scrubber = scrubber or Scrubber()
    lines: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if not name or name.lower() in lines:
            continue
        lines[name.lower()] = _requirement(name, distribution, scrubber)
    header = (
        f"# Python {platform.python_version()} on {platform.platform()}: every package of the "
        "run's interpreter\n"
    )
    return (header + "".join(f"{lines[key]}\n" for key in sorted(lines))).encode()


def _requirement(
    name: str, distribution: importlib.metadata.Distribution, scrubber: Scrubber
) -> str:
    try:
        direct = json.loads(distribution.read_text("direct_url.json") or "null")
    except ValueError:
        direct = None
    if not isinstance(direct, dict) or not isinstance(direct.get("url"), str):
        return f"{name}=={distribution.version}"
    url = scrubber.url(direct["url"])
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id"):
        return f"{name} @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
    return f"{name} @ {url}"
