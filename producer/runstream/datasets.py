"""Dataset versions: a manifest (relative path, size, SHA-256 of every file) and its digest.

The version id is derived from the manifest alone, so the same bytes under the same names
give the same version on any machine, and one changed file gives a new one. Hashing runs on
a thread pool (``hashlib`` releases the GIL on large reads) and is cached by path, size and
mtime in one file under the data directory: re-logging an unchanged 10 GB directory reads
no file content. Content is stored, when asked, through the run's artifact sink, by SHA-256
like any artifact, so an unchanged file is stored once whatever version or run logs it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .artifacts.local import sha256_of

MAX_WORKERS = 8
"""Files hashed at once: enough to keep a disk or a network file system busy."""
VERSION_CHARS = 16
"""Hex characters of a version id: a 64-bit prefix of the manifest's SHA-256."""


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    """Relative to the dataset's root, ``/``-separated (a single file: its name)."""
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    root: Path
    """The directory the paths are relative to (a single file: its directory)."""
    entries: tuple[ManifestEntry, ...]

    @property
    def version(self) -> str:
        return manifest_version(self.entries)

    @property
    def total_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self.entries)


def manifest_version(entries: Iterable[ManifestEntry]) -> str:
    """The version id of a manifest: independent of file order, machine and time."""
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda item: item.path):
        digest.update(f"{entry.path}\0{entry.size_bytes}\0{entry.sha256}\n".encode())
    return digest.hexdigest()[:VERSION_CHARS]


def dataset_files(path: Path) -> tuple[Path, list[tuple[str, Path]]]:
    """(root, [(relative path, file)]) of a file or of every regular file under a directory.

    Symbolic links to files are followed (a dataset is often a tree of links); hidden
    files and directories (``.git``, ``.cache``) are left out.
    """
    if path.is_file():
        return path.parent, [(path.name, path)]
    found: list[tuple[str, Path]] = []
    for directory, subdirectories, files in os.walk(path, followlinks=False):
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            file = Path(directory) / name
            if file.is_file():
                found.append((file.relative_to(path).as_posix(), file))
    return path, found


class HashCache:
    """SHA-256 by (absolute path, size, mtime in ns), kept in one JSON file.

    A file whose size or mtime changed is hashed again. Concurrent runs may each write the
    file: the last one wins and a lost entry only costs a re-hash, never a wrong digest.
    """

    def __init__(self, file: Path) -> None:
        self.file = file
        self._entries: dict[str, list[object]] = {}
        self._lock = threading.Lock()
        self._changed = False
        try:
            loaded = json.loads(file.read_text())
            if isinstance(loaded, dict):
                self._entries = loaded
        except (OSError, ValueError):
            pass

    def get(self, file: Path, stat: os.stat_result) -> str | None:
        entry = self._entries.get(str(file))
        if entry and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns:
            return str(entry[2])
        return None

    def set(self, file: Path, stat: os.stat_result, sha256: str) -> None:
        with self._lock:
            self._entries[str(file)] = [stat.st_size, stat.st_mtime_ns, sha256]
            self._changed = True

    def save(self) -> None:
        if not self._changed:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=self.file.parent, delete=False, suffix=".partial"
        ) as staged:
            json.dump(self._entries, staged)
        os.replace(staged.name, self.file)
        self._changed = False


def build_manifest(
    path: Path, cache: HashCache, hasher: Callable[[Path], tuple[str, int]] = sha256_of
) -> Manifest:
    """The manifest of ``path`` (a file or a directory), hashing in parallel what the cache
    does not know; raises OSError when a file cannot be read."""
    root, files = dataset_files(path)

    def one(item: tuple[str, Path]) -> ManifestEntry:
        relative, file = item
        stat = file.stat()
        known = cache.get(file.resolve(), stat)
        if known is not None:
            return ManifestEntry(relative, stat.st_size, known)
        sha256, size = hasher(file)
        after = file.stat()
        if after.st_size == size and after.st_mtime_ns == stat.st_mtime_ns:
            cache.set(file.resolve(), after, sha256)  # unchanged while read: safe to reuse
        return ManifestEntry(relative, size, sha256)

    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, max(1, len(files)))) as pool:
        entries = tuple(pool.map(one, files))
    cache.save()
    return Manifest(root, entries)
