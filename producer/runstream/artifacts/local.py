"""Content-addressed artifact storage on local disk (embedded mode, and team mode's first stage).

A file is stored once under its SHA-256, whatever its name or how often it is
logged; the copy is taken at ``log_artifact`` time, so a checkpoint overwritten
by the next epoch cannot change what was recorded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class StoredArtifact:
    sha256: str
    size_bytes: int
    uri: str


def sha256_of(path: Path) -> tuple[str, int]:
    """(hex digest, size) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class LocalArtifactStore:
    """``<root>/sha256/<2 hex>/<64 hex>``: same content, one file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def put(self, source: Path) -> StoredArtifact:
        """Copy ``source`` into the store (atomically) unless that content is already there."""
        with tempfile.NamedTemporaryFile(dir=self._staging(), delete=False) as staged:
            staged_path = Path(staged.name)
        try:
            shutil.copyfile(source, staged_path)
            sha256, size = sha256_of(staged_path)  # hash the copy: it cannot change under us
            destination = self.path_for(sha256)
            if destination.exists():
                staged_path.unlink()
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged_path, destination)
        except BaseException:
            staged_path.unlink(missing_ok=True)
            raise
        return StoredArtifact(sha256, size, destination.as_uri())

    def put_bytes(self, data: bytes) -> StoredArtifact:
        sha256 = hashlib.sha256(data).hexdigest()
        destination = self.path_for(sha256)
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self._staging(), delete=False) as staged:
                staged.write(data)
            os.replace(staged.name, destination)
        return StoredArtifact(sha256, len(data), destination.as_uri())

    def _staging(self) -> Path:
        staging = self.root / "staging"
        staging.mkdir(parents=True, exist_ok=True)
        return staging
