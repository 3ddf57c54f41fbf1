"""Dataset versions as the store holds them, and the files that changed between two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import queries
from ..errors import QueryError

Row = dict[str, Any]
Files = dict[str, tuple[int, str]]
"""Relative path → (size, sha256): one version's manifest."""


@dataclass(frozen=True)
class Changes:
    added: list[str]
    removed: list[str]
    modified: list[str]

    @property
    def count(self) -> int:
        return len(self.added) + len(self.removed) + len(self.modified)

    def as_dict(self) -> dict[str, list[str]]:
        return {"added": self.added, "removed": self.removed, "modified": self.modified}


def changes(old: Files, new: Files) -> Changes:
    """Files added, removed and modified (by content) from ``old`` to ``new``, by path."""
    return Changes(
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        modified=sorted(path for path in set(old) & set(new) if old[path] != new[path]),
    )


def files_of(row: Row) -> Files:
    """The manifest of a ``queries.run_datasets`` row."""
    return {
        path: (int(size), str(digest))
        for path, size, digest in zip(row["paths"], row["sizes"], row["digests"], strict=True)
    }


def manifest(client: Any, name: str, version: str) -> Files:
    return {
        row["path"]: (int(row["size_bytes"]), str(row["sha256"]))
        for row in queries.dataset_manifest(client, name, version)
    }


def versions(client: Any, name: str) -> list[Row]:
    found = queries.dataset_versions(client, name)
    if not found:
        known = ", ".join(sorted({row["name"] for row in queries.dataset_versions(client)})[:20])
        raise QueryError(f"no dataset named {name!r} (datasets: {known or 'none'})")
    return found


def resolve_version(client: Any, name: str, reference: str | None) -> Row:
    """A version of ``name`` by id or unique id prefix; the latest when ``reference`` is None."""
    found = versions(client, name)
    if reference is None:
        return found[-1]
    matching = [row for row in found if row["version"].startswith(reference)]
    if len(matching) == 1:
        return matching[0]
    listed = ", ".join(row["version"] for row in found[-10:])
    if not matching:
        raise QueryError(f"dataset {name!r} has no version {reference!r} (versions: {listed})")
    raise QueryError(f"version prefix {reference!r} of {name!r} is ambiguous ({listed})")


def parse_reference(text: str) -> tuple[str, str | None]:
    """``NAME@VERSION`` → (name, version); ``NAME`` → (name, None)."""
    name, at, version = text.rpartition("@")
    return (name, version or None) if at and name else (text, None)
