"""The code of a run outside git: the entry script and the local modules it imported.

"Local" is every imported module whose file lies under the entry script's directory, except
installed packages (a virtual environment inside it). They are packed into a tar.gz in a
fixed order with fixed metadata, so the same code gives the same bytes (and one stored copy).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..redaction import Scrubber

MAX_SNAPSHOT_BYTES = 10 * 1024 * 1024
"""Source read into a snapshot, in all; a larger tree is left incomplete (and says so)."""


@dataclass(frozen=True)
class CodeSnapshot:
    root: Path
    """The entry script's directory; paths in the archive are relative to it."""
    entry: str
    archive: bytes
    files: tuple[str, ...]
    complete: bool
    """False when files were left out over :data:`MAX_SNAPSHOT_BYTES`."""


def local_sources(script: Path) -> list[Path]:
    """The entry script and the source files of imported modules under its directory."""
    root = script.parent
    found = {script}
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            continue
        path = Path(file).resolve()
        if not path.is_relative_to(root) or _installed(path.relative_to(root)):
            continue
        if path.is_file():
            found.add(path)
    return sorted(found)


def _installed(relative: Path) -> bool:
    parts = set(relative.parts)
    return bool(parts & {"site-packages", "dist-packages", "__pycache__"}) or any(
        part.startswith(".") for part in relative.parts
    )


def snapshot(script: Path, scrubber: Scrubber | None = None) -> CodeSnapshot:
    """A reproducible archive of :func:`local_sources` of ``script`` (an absolute path), secrets
    replaced in place by ``scrubber`` (counted there) like those of a git diff."""
    scrubber = scrubber or Scrubber()
    root = script.parent
    budget = MAX_SNAPSHOT_BYTES
    complete = True
    names: list[str] = []
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path in local_sources(script):
            try:
                content = path.read_bytes()
            except OSError:
                complete = False
                continue
            if len(content) > budget:
                complete = False
                continue
            budget -= len(content)
            with contextlib.suppress(UnicodeDecodeError):  # not text: kept as it is
                content = scrubber.value(content.decode("utf-8")).encode("utf-8")
            name = path.relative_to(root).as_posix()
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
            names.append(name)
    return CodeSnapshot(
        root, script.relative_to(root).as_posix(), buffer.getvalue(), tuple(names), complete
    )
