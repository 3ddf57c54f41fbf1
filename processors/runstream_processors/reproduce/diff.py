"""Every difference between two runs, grouped and named: what ``runstream diff`` shows.

Groups: params; code (commit, branch, remote, dirty, and the difference of the uncommitted
diffs); data (per dataset and role, the files that changed); environment (packages added,
removed, changed; Python; OS; hardware; CUDA); seed and determinism; command line. An empty
group is left out, and the one-line summary names each group that differs.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass
from typing import Any

from runstream.errors import RunstreamError
from runstream.settings import Settings

from .. import queries
from . import datasets
from .fetch import read_bytes

Row = dict[str, Any]

_HARDWARE = ("cpu_model", "cpu_count", "memory_total_bytes", "gpu_count", "gpu_names")
_CUDA = ("cuda_version", "gpu_driver_version")
_CODE = ("commit", "branch", "remote", "dirty")
MAX_DIFF_LINES = 2000
"""Lines of the difference of two uncommitted diffs kept in the result."""


@dataclass(frozen=True)
class RunRecord:
    """What one run recorded that a difference is made of."""

    detail: Row
    params: dict[str, Any]
    packages: dict[str, str]
    datasets: list[Row]
    code_diff: str
    """The uncommitted diff (with untracked files) as text; empty when the tree was clean."""


def load(client: Any, settings: Settings, reference: str) -> RunRecord:
    """The record of one run (id, id prefix or name); its uncommitted diff is read by digest."""
    run_id = queries.resolve_run(client, reference)["run_id"]
    detail = queries.run_detail(client, run_id)
    return RunRecord(
        detail=detail,
        params={row["key"]: row["value"] for row in queries.params(client, [run_id])},
        packages={row["name"].lower(): row["version"] for row in queries.packages(client, run_id)},
        datasets=queries.run_datasets(client, run_id),
        code_diff=_code_diff(client, settings, run_id, detail.get("git_diff_sha256") or ""),
    )


def _code_diff(client: Any, settings: Settings, run_id: str, sha256: str) -> str:
    if not sha256:
        return ""
    for row in queries.artifacts_of_kind(client, run_id, "code-diff"):
        if row["sha256"] == sha256:
            try:
                return read_bytes(settings, row).decode("utf-8", "replace")
            except (RunstreamError, OSError) as exc:
                return f"(the diff {sha256[:12]} is not readable here: {exc})"
    return f"(the diff {sha256[:12]} was not recorded as an artifact)"


def difference(a: RunRecord, b: RunRecord) -> dict[str, Any]:
    """The grouped difference of ``a`` and ``b`` and its one-line ``summary``."""
    groups: dict[str, Any] = {
        "params": _changed(a.params, b.params),
        "code": _code(a, b),
        "data": _data(a.datasets, b.datasets),
        "environment": _environment(a, b),
        "determinism": _determinism(a.detail, b.detail),
        "command": _command(a.detail, b.detail),
    }
    groups = {name: group for name, group in groups.items() if group}
    return {
        "runs": {
            side: {"id": record.detail["run_id"], "name": record.detail["name"]}
            for side, record in (("a", a), ("b", b))
        },
        "summary": summarize(groups),
        **groups,
    }


def _changed(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    return [
        {"key": key, "a": a.get(key), "b": b.get(key)}
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def _code(a: RunRecord, b: RunRecord) -> dict[str, Any]:
    fields = _changed(
        {key: a.detail.get(f"git_{key}") for key in _CODE},
        {key: b.detail.get(f"git_{key}") for key in _CODE},
    )
    found: dict[str, Any] = {"fields": fields} if fields else {}
    if a.code_diff != b.code_diff:
        lines = list(
            difflib.unified_diff(
                a.code_diff.splitlines(),
                b.code_diff.splitlines(),
                "a: uncommitted diff",
                "b: uncommitted diff",
                lineterm="",
            )
        )
        found["uncommitted diff"] = "\n".join(lines[:MAX_DIFF_LINES])
    return found


def _data(a: list[Row], b: list[Row]) -> list[Row]:
    """Per (dataset, role): the versions and the files that differ."""
    by_a = {(row["name"], row["role"]): row for row in a}  # the last logged wins
    by_b = {(row["name"], row["role"]): row for row in b}
    found = []
    for key in sorted(set(by_a) | set(by_b)):
        old, new = by_a.get(key), by_b.get(key)
        if old is not None and new is not None and old["version"] == new["version"]:
            continue
        changes = datasets.changes(
            datasets.files_of(old) if old else {}, datasets.files_of(new) if new else {}
        )
        found.append(
            {
                "dataset": key[0],
                "role": key[1],
                "a": old["version"] if old else None,
                "b": new["version"] if new else None,
                **changes.as_dict(),
            }
        )
    return found


def _environment(a: RunRecord, b: RunRecord) -> dict[str, Any]:
    found: dict[str, Any] = {}
    packages = {
        "added": [
            f"{name}=={b.packages[name]}" for name in sorted(set(b.packages) - set(a.packages))
        ],
        "removed": [
            f"{name}=={a.packages[name]}" for name in sorted(set(a.packages) - set(b.packages))
        ],
        "changed": [
            {"package": name, "a": a.packages[name], "b": b.packages[name]}
            for name in sorted(set(a.packages) & set(b.packages))
            if a.packages[name] != b.packages[name]
        ],
    }
    if any(packages.values()):
        found["packages"] = packages
    for group, keys in (
        ("python", ("python_version",)),
        ("os", ("os",)),
        ("hardware", _HARDWARE),
        ("cuda", _CUDA),
    ):
        changed = _changed(
            {key: a.detail.get(key) for key in keys}, {key: b.detail.get(key) for key in keys}
        )
        if changed:
            found[group] = changed
    return found


def _determinism(a: Row, b: Row) -> list[Row]:
    left = {"seed": a.get("seed"), **(a.get("determinism") or {})}
    right = {"seed": b.get("seed"), **(b.get("determinism") or {})}
    return _changed(left, right)


def _command(a: Row, b: Row) -> dict[str, str]:
    left, right = list(a.get("command") or []), list(b.get("command") or [])
    if left == right:
        return {}
    return {"a": shlex.join(left), "b": shlex.join(right)}


def summarize(groups: dict[str, Any]) -> str:
    """One line naming what differs, e.g. ``2 params; code (commit, uncommitted diff); ...``."""
    parts: list[str] = []
    if "params" in groups:
        parts.append(_count(len(groups["params"]), "param"))
    if "code" in groups:
        code = groups["code"]
        named = [row["key"] for row in code.get("fields", [])]
        if "uncommitted diff" in code:
            named.append("uncommitted diff")
        parts.append(f"code ({', '.join(named)})")
    if "data" in groups:
        named = [
            f"{row['dataset']}: "
            + _count(sum(len(row[change]) for change in ("added", "removed", "modified")), "file")
            for row in groups["data"]
        ]
        parts.append(f"data ({', '.join(named)})")
    if "environment" in groups:
        environment = groups["environment"]
        named = []
        if "packages" in environment:
            count = sum(len(items) for items in environment["packages"].values())
            named.append(_count(count, "package"))
        named.extend(key for key in ("python", "os", "hardware", "cuda") if key in environment)
        parts.append(f"environment ({', '.join(named)})")
    if "determinism" in groups:
        parts.append(f"determinism ({', '.join(row['key'] for row in groups['determinism'])})")
    if "command" in groups:
        parts.append("command line")
    return "differ: " + "; ".join(parts) if parts else "no differences"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
