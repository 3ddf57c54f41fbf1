"""The report: machine facts and versions, and the markdown rendered from the JSON."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from .common import KEYS, MB, REPO_ROOT


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_facts() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "producer"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit, dirty = "", ""
    if commit and dirty:
        commit += " + uncommitted changes in producer/"
    return {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu,
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit or "none (uncommitted tree)",
        "load_avg_at_start": os.getloadavg(),
    }


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _points(n: int) -> str:
    if n >= 1_000_000 and n % 10_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def render_markdown(doc: dict[str, Any]) -> str:
    facts = doc["machine"]
    params = doc["parameters"]
    lines = [
        "# run.log() overhead: runstream and peers",
        "",
        f"Recorded {facts['date_utc']} with `benchmarks/log_overhead`"
        f" (one run, every tracker in fresh subprocesses).",
        "",
        f"- CPU: {facts['cpu_model']}, {facts['logical_cpus']} logical CPUs,"
        f" {facts['memory_gib']} GiB RAM; {facts['platform']}",
        f"- Python {facts['python']}; repo commit {facts['git_commit']}",
        f"- load average (1/5/15 min) at start {_loads(facts['load_avg_at_start'])},"
        f" at end {_loads(facts['load_avg_at_end'])}",
        f"- timing: {params['warmup']} warm-up calls, then up to {params['calls']:,} timed calls"
        f" (at most {params['timing_budget']:.0f} s); 1 call = 1 dict of {len(KEYS)} floats",
        f"- memory: {params['memory_calls']:,} calls = {_points(params['memory_calls'] * 10)}"
        f" points; trackers that would need more than {params['full_memory_threshold']:.0f} s"
        f" log only ~{params['memory_budget']:.0f} s worth (marked †)"
        + (
            f"; paced: {params['memory_pause_ms']:g} ms sleep every 1000 calls (included in wall)"
            if params.get("memory_pause_ms")
            else "; a tight loop (no pause between calls)"
        ),
        "",
        "| tracker | log() median µs | p90 µs | p99 µs | p99.9 µs | max µs | timed calls"
        " | finish s (points) | peak RSS growth MB (points) | wall for 10M points s"
        " | others' CPU, cores |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    notes: list[str] = []
    for row in doc["results"]:
        name = row["tracker"]
        if "skipped" in row:
            notes.append(f"- **{name}**: skipped, {row['skipped']}")
            continue
        timing = row.get("timing", {})
        if "error" in timing:
            lines.append(f"| {name} | failed: {timing['error']} |" + " |" * 10)
            continue
        cut = " (time-capped)" if timing["truncated_by_time_budget"] else ""
        cells = [
            name,
            _fmt(timing["median_us"]),
            _fmt(timing["p90_us"]),
            _fmt(timing["p99_us"]),
            _fmt(timing["p999_us"]),
            _fmt(timing["max_us"], 0),
            f"{timing['calls']:,}{cut}",
            f"{timing['finish_s']:.3f} ({_points(timing['points_at_finish'])})" + _lost(timing),
        ]
        memory = row.get("memory")
        if memory is None:
            cells += ["not run", "not run"]
        elif "error" in memory:
            cells += [f"failed: {memory['error']}", ""]
        else:
            mark = "" if row.get("memory_full") else " †"
            cells.append(
                f"{_fmt(memory['peak_growth_tree_mb'])} ({_points(memory['points'])}){mark}"
                + _lost(memory)
            )
            if row.get("memory_full"):
                cells.append(_fmt(memory["total_s"]))
            else:
                cells.append(f"≈{_fmt(row['extrapolated_total_s'], 0)} (extrapolated) †")
        contention = [f"{timing['others_cpu_cores']:.2f}"]
        if memory is not None and "others_cpu_cores" in memory:
            contention.append(f"{memory['others_cpu_cores']:.2f}")
        cells.append(" / ".join(contention))
        lines.append("| " + " | ".join(cells) + " |")
        versions = ", ".join(f"{d} {v}" for d, v in row["versions"].items() if v)
        note = f"- **{name}**: {row['mode']}"
        if versions:
            note += f" ({versions})"
        note += f"; init {timing['init_s']:.2f} s; {timing['disk_bytes'] / MB:.1f} MB on disk"
        note += f" after {_points(timing['points_at_finish'])} points"
        for phase in (timing, memory or {}):
            if phase.get("reported_points") is not None:
                note += (
                    f"; {phase['phase']} phase: finish() reported {phase['reported_points']:,}"
                    f" points recorded of {phase['points_at_finish']:,} logged"
                )
                if phase.get("not_recorded"):
                    note += f" (not recorded: {phase['not_recorded']})"
        if memory and "error" not in memory:
            helpers = ", ".join(memory["helper_processes"])
            if helpers:
                note += (
                    f"; helper processes counted: {helpers}"
                    f" (own process alone +{memory['peak_growth_self_mb']:.1f} MB)"
                )
            note += (
                f"; memory phase log() mean {memory['call_mean_us']:.1f} µs,"
                f" {memory['calls_over_1ms']:,} calls > 1 ms, max"
                f" {memory['call_max_us'] / 1000:.1f} ms"
            )
            if not row.get("memory_full"):
                note += (
                    f"; memory phase logged {memory['calls']:,} calls in"
                    f" {memory['log_s']:.1f} s + finish {memory['finish_s']:.1f} s"
                )
        notes.append(note)
    lines += ["", "Notes per tracker:", "", *notes, ""]
    lines += [
        "finish s = time of the finish/close/flush call after the timing phase, i.e. until"
        " what was logged is on disk. Peak RSS growth = peak RSS of the process plus its"
        " helper processes (sampled every 20 ms) minus that after init and warm-up.",
        "Others' CPU = cores used by other processes on the machine while the timing / memory"
        " child ran (system CPU time minus the child's); above ~0.3 the numbers are inflated"
        " by contention.",
        "† partial: memory is for the points shown only and is not extrapolated; wall time"
        " for 10M points is extrapolated linearly from (log + finish) time.",
        "",
    ]
    return "\n".join(lines)


def _lost(phase: dict[str, Any]) -> str:
    """A warning for the table when the tracker reported points it did not record."""
    reported = phase.get("reported_points")
    if reported is None or reported >= phase["points_at_finish"]:
        return ""
    return f" ⚠ {phase['points_at_finish'] - reported:,} points not recorded"


def _loads(values: Sequence[float]) -> str:
    return "/".join(f"{v:.2f}" for v in values)
