"""A lock-style requirements file of the running interpreter: ``uv pip install -r`` takes it.

Every installed distribution pinned to its exact version; one installed from a URL, a VCS
or a local directory (an editable install) is named by that source (PEP 610's
``direct_url.json``), since no index holds its version.
"""

from __future__ import annotations

import json
import platform

from ..redaction import Scrubber
from .environment import Installed, installed


def requirements_lock(scrubber: Scrubber | None = None) -> bytes:
    """``name==version`` lines (or ``name @ url``, credentials taken out of the URL by
    ``scrubber``), sorted by name."""
    scrubber = scrubber or Scrubber()
    lines = {package.name.lower(): _requirement(package, scrubber) for package in installed()}
    header = (
        f"# Python {platform.python_version()} on {platform.platform()}: every package of the "
        "run's interpreter\n"
    )
    return (header + "".join(f"{lines[key]}\n" for key in sorted(lines))).encode()


def _requirement(package: Installed, scrubber: Scrubber) -> str:
    name = package.name
    try:
        direct = json.loads(package.direct_url or "null")
    except ValueError:
        direct = None
    if not isinstance(direct, dict) or not isinstance(direct.get("url"), str):
        return f"{name}=={package.version}"
    url = scrubber.url(direct["url"])
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id"):
        return f"{name} @ {vcs['vcs']}+{url}@{vcs['commit_id']}"
    return f"{name} @ {url}"
