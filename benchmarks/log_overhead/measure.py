"""The timing and memory phases, each run in a fresh child process, and the parent side
that starts the children and records the contention they saw."""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from .common import KEYS, MB, PACKAGE_DIR, metrics_for
from .report import _version
from .trackers import COMMON_CHILD_ENV, SPECS_BY_NAME, TrackerSpec


class RssSampler:
    """Samples the RSS of this process and of all its descendants (helper processes)."""

    def __init__(self, interval_s: float = 0.02, rescan_s: float = 0.5) -> None:
        self._me = psutil.Process()
        self._interval_s = interval_s
        self._rescan_s = rescan_s
        self._procs: list[psutil.Process] = []
        self._last_scan = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._lock = threading.Lock()
        self.peak_self = 0
        self.peak_tree = 0
        self.helpers: set[str] = set()

    def sample(self) -> tuple[int, int]:
        """(own RSS, RSS of self plus descendants) in bytes; updates the peaks."""
        now = time.monotonic()
        if now - self._last_scan >= self._rescan_s:
            try:
                self._procs = self._me.children(recursive=True)
            except psutil.Error:
                self._procs = []
            self._last_scan = now
        own = self._me.memory_info().rss
        tree = own
        for proc in self._procs:
            try:
                tree += proc.memory_info().rss
                self.helpers.add(proc.name())
            except psutil.Error:
                continue
        with self._lock:
            self.peak_self = max(self.peak_self, own)
            self.peak_tree = max(self.peak_tree, tree)
        return own, tree

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()


def _percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile, in µs."""
    rank = max(1, math.ceil(q * len(sorted_ns)))
    return sorted_ns[min(rank, len(sorted_ns)) - 1] / 1000


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue
    return total


def _reported_points(report: object) -> int | None:
    """Points the tracker says it recorded, where finish() returns a report (runstream)."""
    points = getattr(report, "points", None)
    return points if isinstance(points, int) else None


def _not_recorded(report: object) -> dict[str, int] | None:
    """What the tracker's finish() report says it could not record (runstream)."""
    lost = getattr(report, "not_recorded", None)
    return {str(k): int(v) for k, v in lost.items()} if isinstance(lost, dict) else None


def _report_text(report: object) -> str | None:
    if report is None:
        return None
    text = repr(report)
    return text if len(text) <= 2000 else text[:2000] + "..."


def child_timing(spec: TrackerSpec, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    tracker = spec.factory(workdir)
    init_s = time.perf_counter() - t0

    for step in range(args.warmup):
        tracker.log(metrics_for(step), step)

    perf = time.perf_counter_ns
    durations: list[int] = []
    append = durations.append
    log = tracker.log
    first = args.warmup
    start = perf()
    deadline = start + int(args.time_budget * 1e9)
    truncated = False
    for step in range(first, first + args.calls):
        values = metrics_for(step)
        before = perf()
        log(values, step)
        after = perf()
        append(after - before)
        if after > deadline and len(durations) < args.calls:
            truncated = True
            break
    loop_s = (perf() - start) / 1e9

    t0 = time.perf_counter()
    report = tracker.finish()
    finish_s = time.perf_counter() - t0

    ordered = sorted(durations)
    calls = len(ordered)
    return {
        "phase": "timing",
        "init_s": init_s,
        "warmup_calls": args.warmup,
        "calls": calls,
        "requested_calls": args.calls,
        "truncated_by_time_budget": truncated,
        "points": calls * len(KEYS),
        "points_at_finish": (calls + args.warmup) * len(KEYS),
        "loop_s": loop_s,
        "median_us": _percentile(ordered, 0.5),
        "p90_us": _percentile(ordered, 0.9),
        "p99_us": _percentile(ordered, 0.99),
        "p999_us": _percentile(ordered, 0.999),
        "max_us": ordered[-1] / 1000,
        "mean_us": sum(ordered) / calls / 1000,
        "finish_s": finish_s,
        "disk_bytes": _dir_bytes(workdir),
        "finish_report": _report_text(report),
        "reported_points": _reported_points(report),
        "not_recorded": _not_recorded(report),
    }


def child_memory(spec: TrackerSpec, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    tracker = spec.factory(workdir)
    init_s = time.perf_counter() - t0
    warmup = min(args.warmup, 100)
    for step in range(warmup):
        tracker.log(metrics_for(step), step)
    gc.collect()

    sampler = RssSampler()
    time.sleep(0.5)  # let helper threads/processes settle before the baseline
    base_self, base_tree = sampler.sample()
    sampler.peak_self, sampler.peak_tree = base_self, base_tree
    sampler.start()

    checkpoints: list[dict[str, float]] = []
    every = max(1, args.calls // 10)
    pause_s = args.memory_pause_ms / 1000
    log = tracker.log
    perf = time.perf_counter_ns
    # Per-call latency under sustained load, without storing 1M samples (that would show up
    # in the RSS being measured): the total, the worst, and counts over fixed thresholds.
    total_ns = worst_ns = 0
    over = [0, 0, 0]  # > 50 µs, > 1 ms, > 10 ms
    start = time.perf_counter()
    deadline = start + args.time_budget
    done = 0
    truncated = False
    for step in range(warmup, warmup + args.calls):
        values = metrics_for(step)
        before = perf()
        log(values, step)
        took = perf() - before
        total_ns += took
        if took > 50_000:
            over[0] += 1
            if took > 1_000_000:
                over[1] += 1
                if took > 10_000_000:
                    over[2] += 1
            worst_ns = max(worst_ns, took)
        done += 1
        if done % every == 0:
            own, tree = sampler.sample()
            checkpoints.append(
                {
                    "calls": done,
                    "elapsed_s": time.perf_counter() - start,
                    "rss_self_mb": (own - base_self) / MB,
                    "rss_tree_mb": (tree - base_tree) / MB,
                }
            )
        if done % 1000 == 0:
            if pause_s:
                time.sleep(pause_s)
            if time.perf_counter() > deadline and done < args.calls:
                truncated = True
                break
    log_s = time.perf_counter() - start

    t0 = time.perf_counter()
    report = tracker.finish()
    finish_s = time.perf_counter() - t0
    sampler.stop()
    after_self, after_tree = sampler.sample()

    return {
        "phase": "memory",
        "init_s": init_s,
        "calls": done,
        "requested_calls": args.calls,
        "points": done * len(KEYS),
        "points_at_finish": (done + warmup) * len(KEYS),
        "truncated_by_time_budget": truncated,
        "pause_ms_per_1000_calls": args.memory_pause_ms,
        "log_s": log_s,
        "finish_s": finish_s,
        "total_s": log_s + finish_s,
        "call_mean_us": total_ns / max(done, 1) / 1000,
        "call_max_us": worst_ns / 1000,
        "calls_over_50us": over[0],
        "calls_over_1ms": over[1],
        "calls_over_10ms": over[2],
        "baseline_self_mb": base_self / MB,
        "baseline_tree_mb": base_tree / MB,
        "peak_growth_self_mb": (sampler.peak_self - base_self) / MB,
        "peak_growth_tree_mb": (sampler.peak_tree - base_tree) / MB,
        "after_finish_growth_tree_mb": (after_tree - base_tree) / MB,
        "after_finish_growth_self_mb": (after_self - base_self) / MB,
        "ru_maxrss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB,
        "helper_processes": sorted(sampler.helpers),
        "checkpoints": checkpoints,
        "disk_bytes": _dir_bytes(workdir),
        "finish_report": _report_text(report),
        "reported_points": _reported_points(report),
        "not_recorded": _not_recorded(report),
    }


def child_main(args: argparse.Namespace) -> int:
    spec = SPECS_BY_NAME[args.child]
    workdir = Path(args.workdir)
    phase = child_timing if args.phase == "timing" else child_memory
    result = phase(spec, workdir, args)
    Path(args.result).write_text(json.dumps(result))
    return 0


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _busy_cpu_s(times: Any) -> float:
    """Seconds of CPU time (all cores) spent not idle, from psutil.cpu_times()."""
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def wait_for_idle(max_wait_s: float, idle_cores: float) -> float:
    """Wait (up to ``max_wait_s``) until the machine's other load is below ``idle_cores``."""
    if max_wait_s <= 0:
        return 0.0
    started = time.monotonic()
    cores = os.cpu_count() or 1
    while time.monotonic() - started < max_wait_s:
        busy = psutil.cpu_percent(interval=2.0) / 100 * cores
        if busy <= idle_cores:
            break
    return time.monotonic() - started


def run_child(
    spec: TrackerSpec,
    phase: str,
    calls: int,
    warmup: int,
    time_budget: float,
    timeout_s: float,
    keep_dirs: bool,
    wait_idle_s: float = 0.0,
    idle_cores: float = 0.3,
    memory_pause_ms: float = 0.0,
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"rs-bench-{spec.name}-{phase}-"))
    data = workdir / "data"
    data.mkdir()
    result_path = workdir / "result.json"
    log_path = workdir / "child.log"
    env = dict(os.environ)
    env.update(COMMON_CHILD_ENV)
    env.update(
        {
            "RUNSTREAM_DIR": str(data),
            "WANDB_DIR": str(data),
            "WANDB_CONFIG_DIR": str(workdir / "wandb-config"),
            "WANDB_CACHE_DIR": str(workdir / "wandb-cache"),
            "WANDB_DATA_DIR": str(workdir / "wandb-data"),
            "TMPDIR": str(workdir),
        }
    )
    env.update(spec.env)
    cmd = [
        sys.executable,
        str(PACKAGE_DIR),  # runs __main__.py: the child side of this package
        "--child",
        spec.name,
        "--phase",
        phase,
        "--calls",
        str(calls),
        "--warmup",
        str(warmup),
        "--time-budget",
        str(time_budget),
        "--workdir",
        str(data),
        "--result",
        str(result_path),
        "--memory-pause-ms",
        str(memory_pause_ms),
    ]
    waited_s = wait_for_idle(wait_idle_s, idle_cores)
    load_before = os.getloadavg()[0]
    cpu_before = psutil.cpu_times()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            returncode = None
    wall_s = time.perf_counter() - started
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu_s = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    system_cpu_s = _busy_cpu_s(psutil.cpu_times()) - _busy_cpu_s(cpu_before)
    result: dict[str, Any]
    if returncode == 0 and result_path.exists():
        result = json.loads(result_path.read_text())
    else:
        reason = f"timed out after {timeout_s:.0f} s" if returncode is None else f"rc={returncode}"
        result = {"phase": phase, "error": reason, "output_tail": _tail(log_path)}
    result["process_wall_s"] = wall_s
    result["load_1m_before"] = load_before
    result["waited_for_idle_s"] = waited_s
    result["child_cpu_cores"] = child_cpu_s / wall_s
    # CPU used by everything else on the machine while the child ran (the other engineer's
    # tests, ...): the contention this measurement saw, in cores out of os.cpu_count().
    result["others_cpu_cores"] = max(0.0, system_cpu_s - child_cpu_s) / wall_s
    if keep_dirs:
        result["workdir"] = str(workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def memory_plan(timing: dict[str, Any], args: argparse.Namespace) -> tuple[int, bool]:
    """Calls for the memory phase, and whether that is the full 1M."""
    if "error" in timing or not timing.get("calls"):
        return 0, False
    # Sustained cost per call includes the finish (an async queue drains there).
    per_call_s = (timing["loop_s"] + timing["finish_s"]) / timing["calls"]
    if per_call_s * args.memory_calls <= args.full_memory_threshold:
        return args.memory_calls, True
    calls = int(args.memory_budget / per_call_s) // 1000 * 1000
    return max(1000, min(calls, args.memory_calls)), False


def run_tracker(spec: TrackerSpec, args: argparse.Namespace) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tracker": spec.name,
        "mode": spec.mode,
        "versions": {dist: _version(dist) for dist in spec.dists},
        "env": spec.env,
    }
    if importlib.util.find_spec(spec.module) is None:
        row["skipped"] = f"module {spec.module!r} is not installed in {sys.prefix}"
        return row
    print(f"[{spec.name}] timing: {args.calls} calls ...", flush=True)
    timing = run_child(
        spec,
        "timing",
        args.calls,
        args.warmup,
        args.timing_budget,
        timeout_s=args.timing_budget + args.child_timeout,
        keep_dirs=args.keep_dirs,
        wait_idle_s=args.wait_idle,
        idle_cores=args.idle_cores,
    )
    row["timing"] = timing
    if "error" in timing:
        print(f"[{spec.name}] timing failed: {timing['error']}\n{timing['output_tail']}")
        return row
    print(
        f"[{spec.name}]   median {timing['median_us']:.1f} µs, p99 {timing['p99_us']:.1f} µs,"
        f" finish {timing['finish_s']:.3f} s for {timing['points_at_finish']} points",
        flush=True,
    )
    if args.skip_memory:
        return row
    calls, full = memory_plan(timing, args)
    row["memory_full"] = full
    print(f"[{spec.name}] memory: {calls} calls ({'full' if full else 'partial'}) ...", flush=True)
    budget = args.full_memory_threshold * 1.5 if full else args.memory_budget * 1.5
    memory = run_child(
        spec,
        "memory",
        calls,
        args.warmup,
        budget,
        timeout_s=budget + args.child_timeout,
        keep_dirs=args.keep_dirs,
        wait_idle_s=args.wait_idle,
        idle_cores=args.idle_cores,
        memory_pause_ms=args.memory_pause_ms,
    )
    row["memory"] = memory
    if "error" in memory:
        print(f"[{spec.name}] memory failed: {memory['error']}\n{memory['output_tail']}")
        return row
    if memory["calls"] < args.memory_calls:
        row["memory_full"] = False
        row["extrapolated_total_s"] = memory["total_s"] * args.memory_calls / memory["calls"]
    print(
        f"[{spec.name}]   {memory['points']} points: +{memory['peak_growth_tree_mb']:.1f} MB peak,"
        f" {memory['total_s']:.1f} s",
        flush=True,
    )
    return row
