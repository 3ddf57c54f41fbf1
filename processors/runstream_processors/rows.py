"""Route validated Envelopes to table rows, built column by column for Arrow inserts.

A MetricBatch arrives as packed little-endian columns, so its points go from the
wire to Arrow through numpy without one Python object per point.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
from runstream.wire import events_pb2 as pb

_S, _I64, _U32, _U64, _F64, _B = (
    pa.string(),
    pa.int64(),
    pa.uint32(),
    pa.uint64(),
    pa.float64(),
    pa.bool_(),
)
_TS = pa.timestamp("ns", tz="UTC")
_STRINGS, _STRMAP = pa.list_(pa.string()), pa.map_(pa.string(), pa.string())

SCHEMAS: dict[str, dict[str, pa.DataType]] = {
    "events_seen": {
        "event_id": _S,
        "project": _S,
        "run_id": _S,
        "kind": _S,
        "seq": _U64,
        "produced_at": _TS,
    },
    "runs_started": {
        "project": _S,
        "run_id": _S,
        "name": _S,
        "tags": _STRINGS,
        "start_time": _TS,
        "user": _S,
        "hostname": _S,
        "git_commit": _S,
        "git_branch": _S,
        "git_remote": _S,
        "git_dirty": _B,
        "git_diff_sha256": _S,
        "command": _STRINGS,
        "working_dir": _S,
        "seed": _I64,
        "heartbeat_interval_ms": _U32,
        "notes": _S,
        "sdk_version": _S,
        "python_version": _S,
        "python_executable": _S,
        "os": _S,
        "cpu_model": _S,
        "cpu_count": _U32,
        "memory_total_bytes": _U64,
        "gpu_count": _U32,
        "gpu_names": _STRINGS,
        "gpu_driver_version": _S,
        "cuda_version": _S,
        "environment_variables": _STRMAP,
        "determinism": _STRMAP,
        "event_id": _S,
    },
    "params": {
        "project": _S,
        "run_id": _S,
        "key": _S,
        "value_type": _S,
        "value_number": _F64,
        "value_text": _S,
        "event_id": _S,
    },
    "packages": {"project": _S, "run_id": _S, "name": _S, "version": _S, "event_id": _S},
    "metrics": {
        "project": _S,
        "run_id": _S,
        "key": _S,
        "split": _S,
        "step": _I64,
        "value": _F64,
        "time": _TS,
        "event_id": _S,
        "idx": _U32,
    },
    "system": {
        "project": _S,
        "run_id": _S,
        "hostname": _S,
        "key": _S,
        "time": _TS,
        "value": _F64,
        "event_id": _S,
        "idx": _U32,
    },
    "samples": {
        "project": _S,
        "run_id": _S,
        "split": _S,
        "step": _I64,
        "sample_id": _S,
        "input": _S,
        "prediction": _S,
        "label": _S,
        "correct": _B,
        "time": _TS,
        "event_id": _S,
        "idx": _U32,
    },
    "artifacts": {
        "project": _S,
        "run_id": _S,
        "name": _S,
        "kind": _S,
        "sha256": _S,
        "size_bytes": _U64,
        "uri": _S,
        "source_path": _S,
        "metadata": _STRMAP,
        "time": _TS,
        "event_id": _S,
    },
    "datasets": {
        "project": _S,
        "run_id": _S,
        "name": _S,
        "version": _S,
        "file_count": _U64,
        "total_bytes": _U64,
        "files.path": _STRINGS,
        "files.size_bytes": pa.list_(_U64),
        "files.sha256": _STRINGS,
        "time": _TS,
        "event_id": _S,
    },
    "summaries": {
        "project": _S,
        "run_id": _S,
        "key": _S,
        "value_type": _S,
        "value_number": _F64,
        "value_text": _S,
        "time": _TS,
        "event_id": _S,
    },
    "runs_finished": {
        "project": _S,
        "run_id": _S,
        "status": _S,
        "end_time": _TS,
        "not_recorded": pa.map_(pa.string(), _U64),
        "nonfinite_values": _U64,
        "event_id": _S,
    },
    "liveness": {"project": _S, "run_id": _S, "last_seen": _TS, "heartbeat_interval_ms": _U32},
    "dead_letters": {
        "source": _S,
        "reason": _S,
        "detail": _S,
        "event_id": _S,
        "project": _S,
        "run_id": _S,
        "payload": pa.binary(),
    },
}

STATUS_NAMES = {
    pb.RUN_STATUS_FINISHED: "finished",
    pb.RUN_STATUS_FAILED: "failed",
    pb.RUN_STATUS_KILLED: "killed",
}


class TableRows:
    """Columns per table, filled by :meth:`add` and turned into Arrow tables by :meth:`tables`."""

    def __init__(self) -> None:
        self.columns: dict[str, dict[str, list[object]]] = defaultdict(lambda: defaultdict(list))
        self.chunks: dict[str, list[pa.Table]] = defaultdict(list)
        self.event_ids: dict[str, set[str]] = defaultdict(set)

    def add(self, envelopes: Iterable[pb.Envelope]) -> None:
        for envelope in envelopes:
            kind = envelope.WhichOneof("payload")
            assert kind is not None  # validated
            _ROUTES[kind](self, envelope)
            self.row(
                "liveness",
                project=envelope.project,
                run_id=envelope.run_id,
                last_seen=envelope.time_unix_nano,
                heartbeat_interval_ms=_interval_ms(envelope),
            )
            self.row(
                "events_seen",
                event_id=envelope.event_id,
                project=envelope.project,
                run_id=envelope.run_id,
                kind=kind,
                seq=envelope.seq,
                produced_at=envelope.time_unix_nano,
            )

    def row(self, table: str, **values: object) -> None:
        columns = self.columns[table]
        for name, value in values.items():
            columns[name].append(value)
        event_id = values.get("event_id")
        if isinstance(event_id, str):
            self.event_ids[table].add(event_id)

    def extend(
        self, table: str, event_id: str, count: int, **values: list[object] | object
    ) -> None:
        """Add ``count`` rows; list values are columns, other values repeat."""
        columns = self.columns[table]
        for name, value in values.items():
            columns[name].extend(value if isinstance(value, list) else [value] * count)
        columns["event_id"].extend([event_id] * count)
        columns["idx"].extend(range(count))
        self.event_ids[table].add(event_id)

    def add_chunk(self, table: str, event_id: str, chunk: pa.Table) -> None:
        """Rows already in Arrow form (the bulk of the data: metric points)."""
        self.chunks[table].append(chunk)
        self.event_ids[table].add(event_id)

    def tables(self) -> dict[str, pa.Table]:
        """One Arrow table per ClickHouse table with rows, in a fixed order (events_seen last)."""
        built = {name: _arrow(name, columns) for name, columns in self.columns.items() if columns}
        for name, chunks in self.chunks.items():
            built[name] = pa.concat_tables(chunks)
        order = sorted(built, key=lambda name: (name == "events_seen", name))
        return {name: built[name] for name in order}


def _arrow(table: str, columns: dict[str, list[object]]) -> pa.Table:
    schema = SCHEMAS[table]
    return pa.table({name: pa.array(values, type=schema[name]) for name, values in columns.items()})


def _interval_ms(envelope: pb.Envelope) -> int:
    if envelope.HasField("heartbeat"):
        return envelope.heartbeat.interval_ms
    if envelope.HasField("run_started"):
        return envelope.run_started.heartbeat_interval_ms
    return 0


def _typed(value: pb.Value) -> tuple[str, float | None, str]:
    kind = value.WhichOneof("kind")
    if kind == "number":
        return "number", value.number, repr(value.number)
    if kind == "integer":
        return "integer", float(value.integer), str(value.integer)
    if kind == "flag":
        return "bool", float(value.flag), str(value.flag).lower()
    return "text", None, value.text


def _base(envelope: pb.Envelope) -> dict[str, object]:
    return {"project": envelope.project, "run_id": envelope.run_id, "event_id": envelope.event_id}


def _run_started(rows: TableRows, envelope: pb.Envelope) -> None:
    started, env, git = (
        envelope.run_started,
        envelope.run_started.environment,
        envelope.run_started.git,
    )
    rows.row(
        "runs_started",
        **_base(envelope),
        name=started.name,
        tags=list(started.tags),
        start_time=envelope.time_unix_nano,
        user=env.user,
        hostname=env.hostname,
        git_commit=git.commit,
        git_branch=git.branch,
        git_remote=git.remote,
        git_dirty=git.dirty,
        git_diff_sha256=git.diff_sha256,
        command=list(started.command),
        working_dir=started.working_dir,
        seed=started.seed if started.has_seed else None,
        heartbeat_interval_ms=started.heartbeat_interval_ms,
        notes=started.notes,
        sdk_version=envelope.sdk_version,
        python_version=env.python_version,
        python_executable=env.python_executable,
        os=env.os,
        cpu_model=env.cpu_model,
        cpu_count=env.cpu_count,
        memory_total_bytes=env.memory_total_bytes,
        gpu_count=len(env.gpus),
        gpu_names=[gpu.name for gpu in env.gpus],
        gpu_driver_version=env.gpu_driver_version,
        cuda_version=env.cuda_version,
        environment_variables=dict(env.variables),
        determinism=dict(env.determinism),
    )
    _params_and_packages(rows, envelope, started.params, env.packages)


def _run_started_continued(rows: TableRows, envelope: pb.Envelope) -> None:
    more = envelope.run_started_continued
    _params_and_packages(rows, envelope, more.params, more.packages)


def _params_and_packages(
    rows: TableRows,
    envelope: pb.Envelope,
    params: Iterable[pb.Param],
    packages: Iterable[pb.Package],
) -> None:
    for param in params:
        value_type, number, text = _typed(param.value)
        rows.row(
            "params",
            **_base(envelope),
            key=param.key,
            value_type=value_type,
            value_number=number,
            value_text=text,
        )
    for package in packages:
        rows.row("packages", **_base(envelope), name=package.name, version=package.version)


def _metrics(rows: TableRows, envelope: pb.Envelope) -> None:
    """Whole columns at once: numpy views of the packed bytes, repeated per row, into Arrow."""
    batch = envelope.metrics
    lengths = np.frombuffer(batch.row_lengths, dtype="<u4")
    values = np.frombuffer(batch.values, dtype="<f8")
    count = len(values)
    key_index = pa.array(np.frombuffer(batch.key_index, dtype="<u4"))
    columns = {
        "project": pa.repeat(envelope.project, count),
        "run_id": pa.repeat(envelope.run_id, count),
        "key": pa.array(list(batch.keys), type=_S).take(key_index),
        "split": pa.repeat(batch.split, count),
        "step": pa.array(np.repeat(np.frombuffer(batch.steps, dtype="<i8"), lengths)),
        "value": pa.array(values),
        "time": pa.array(np.repeat(np.frombuffer(batch.time_unix_nano, dtype="<i8"), lengths)).cast(
            _TS
        ),
        "event_id": pa.repeat(envelope.event_id, count),
        "idx": pa.array(np.arange(count, dtype=np.uint32)),
    }
    rows.add_chunk("metrics", envelope.event_id, pa.table(columns))


def _system(rows: TableRows, envelope: pb.Envelope) -> None:
    stats = envelope.system
    keys = list(stats.keys)
    rows.extend(
        "system",
        envelope.event_id,
        len(stats.values),
        project=envelope.project,
        run_id=envelope.run_id,
        hostname=stats.hostname,
        key=[keys[i] for i in stats.key_index],
        time=list(stats.time_unix_nano),
        value=list(stats.values),
    )


def _samples(rows: TableRows, envelope: pb.Envelope) -> None:
    batch = envelope.samples
    samples = list(batch.samples)
    rows.extend(
        "samples",
        envelope.event_id,
        len(samples),
        project=envelope.project,
        run_id=envelope.run_id,
        split=batch.split,
        step=batch.step,
        sample_id=[s.id for s in samples],
        input=[s.input for s in samples],
        prediction=[s.prediction for s in samples],
        label=[s.label if s.has_label else None for s in samples],
        correct=[s.prediction == s.label if s.has_label else None for s in samples],
        time=envelope.time_unix_nano,
    )


def _artifact(rows: TableRows, envelope: pb.Envelope) -> None:
    artifact = envelope.artifact
    rows.row(
        "artifacts",
        **_base(envelope),
        name=artifact.name,
        kind=artifact.kind,
        sha256=artifact.sha256,
        size_bytes=artifact.size_bytes,
        uri=artifact.uri,
        source_path=artifact.source_path,
        metadata=dict(artifact.metadata),
        time=envelope.time_unix_nano,
    )


def _dataset(rows: TableRows, envelope: pb.Envelope) -> None:
    dataset = envelope.dataset
    files = list(dataset.files)
    rows.row(
        "datasets",
        **_base(envelope),
        name=dataset.name,
        version=dataset.version,
        file_count=len(files),
        total_bytes=sum(f.size_bytes for f in files),
        **{
            "files.path": [f.path for f in files],
            "files.size_bytes": [f.size_bytes for f in files],
            "files.sha256": [f.sha256 for f in files],
        },
        time=envelope.time_unix_nano,
    )


def _summary_entries(rows: TableRows, envelope: pb.Envelope, entries: Iterable[pb.Param]) -> None:
    for entry in entries:
        value_type, number, text = _typed(entry.value)
        rows.row(
            "summaries",
            **_base(envelope),
            key=entry.key,
            value_type=value_type,
            value_number=number,
            value_text=text,
            time=envelope.time_unix_nano,
        )


def _summary(rows: TableRows, envelope: pb.Envelope) -> None:
    _summary_entries(rows, envelope, envelope.summary.entries)


def _run_finished(rows: TableRows, envelope: pb.Envelope) -> None:
    finished = envelope.run_finished
    rows.row(
        "runs_finished",
        **_base(envelope),
        status=STATUS_NAMES.get(finished.status, f"status_{finished.status}"),
        end_time=envelope.time_unix_nano,
        not_recorded=dict(finished.not_recorded),
        nonfinite_values=finished.nonfinite_values,
    )
    _summary_entries(rows, envelope, finished.summary)


def _heartbeat(rows: TableRows, envelope: pb.Envelope) -> None:
    """Heartbeats only feed liveness, which every event does."""


_ROUTES: dict[str, Callable[[TableRows, pb.Envelope], None]] = {
    "run_started": _run_started,
    "run_started_continued": _run_started_continued,
    "metrics": _metrics,
    "system": _system,
    "samples": _samples,
    "artifact": _artifact,
    "dataset": _dataset,
    "summary": _summary,
    "run_finished": _run_finished,
    "heartbeat": _heartbeat,
}
