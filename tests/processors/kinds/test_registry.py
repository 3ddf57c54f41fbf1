"""The kind registry: every payload field has a kind, and every kind's tables match the DDL."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from runstream.wire import events_pb2 as pb
from runstream_processors.errors import InvalidEventError
from runstream_processors.kinds import PAYLOAD_FIELDS, REGISTRY, Kind, Registry
from runstream_processors.store.connection import get_client
from runstream_processors.store.migrations import apply_migrations
from runstream_processors.validation import check


def test_every_payload_field_of_the_envelope_has_a_registered_kind() -> None:
    assert set(PAYLOAD_FIELDS) >= {"run_started", "metrics", "heartbeat", "dataset"}
    assert REGISTRY.unregistered() == []


def test_a_registry_missing_a_kind_reports_it() -> None:
    partial = Registry(k for k in _kinds() if k.field != "dataset")
    assert partial.unregistered() == ["dataset"]
    with pytest.raises(InvalidEventError) as error:
        partial.kind_of(_envelope(dataset=pb.DatasetVersion(name="d", version="v1")))
    assert error.value.reason == "unknown_kind"


def test_a_kind_must_name_a_payload_field_and_a_table_has_one_owner() -> None:
    kind = _kinds()[0]
    with pytest.raises(ValueError, match="not a payload field"):
        Registry([Kind("no_such_field", kind.check, kind.rows)])
    with pytest.raises(ValueError, match="declared twice"):
        Registry([kind, Kind("metrics", kind.check, kind.rows, tables=kind.tables)])


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"heartbeat": pb.Heartbeat(interval_ms=0)}, "invalid_heartbeat"),
        ({"dataset": pb.DatasetVersion(name="", version="v1")}, "invalid_dataset"),
        (
            {
                "dataset": pb.DatasetVersion(
                    name="d", version="v1", files=[pb.DatasetFile(path="a", sha256="nope")]
                )
            },
            "invalid_dataset",
        ),
        ({"run_finished": pb.RunFinished(status=99)}, "invalid_status"),  # type: ignore[arg-type]
    ],
)
def test_every_kind_is_checked(payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidEventError) as error:
        check(_envelope(**payload))
    assert error.value.reason == reason


def test_every_declared_table_matches_the_migrated_table(tmp_path: Path) -> None:
    client = get_client(f"chdb://{tmp_path / 'store'}")
    try:
        apply_migrations(client)
        rows = client.query(
            "SELECT table, name, type, default_kind FROM system.columns "
            "WHERE database = 'runstream'"
        ).result_rows
    finally:
        client.close()
    ddl: dict[str, dict[str, tuple[str, str]]] = {}
    for table, name, column_type, default in rows:
        ddl.setdefault(table, {})[name] = (column_type, default)
    for table in REGISTRY.tables.values():
        assert table.name in ddl, f"{table.name} is declared but no migration creates it"
        columns = ddl[table.name]
        for name, arrow_type in table.columns.items():
            assert name in columns, f"{table.name}.{name} is not in the migrated table"
            assert _compatible(arrow_type, columns[name][0]), (
                f"{table.name}.{name}: Arrow {arrow_type} vs ClickHouse {columns[name][0]}"
            )
        required = {name for name, (_, default) in columns.items() if not default}
        missing = required - set(table.columns)
        assert not missing, f"{table.name}: columns without a default not declared: {missing}"


def test_a_schema_that_disagrees_with_the_ddl_is_caught() -> None:
    assert not _compatible(pa.string(), "UInt64")
    assert not _compatible(pa.int64(), "Nullable(Float64)")
    assert not _compatible(pa.list_(pa.uint64()), "Array(String)")


_SCALARS = {
    "string": {"String", "Enum8"},
    "binary": {"String"},
    "int64": {"Int64"},
    "uint32": {"UInt32"},
    "uint64": {"UInt64"},
    "double": {"Float64"},
    "bool": {"Bool"},
}


def _compatible(arrow_type: pa.DataType, clickhouse: str) -> bool:
    """Would ClickHouse take this Arrow type into this column type without a lossy cast?"""
    inner = _unwrap(clickhouse)
    if pa.types.is_timestamp(arrow_type):
        return inner.startswith("DateTime64")
    if pa.types.is_list(arrow_type):
        match = re.fullmatch(r"Array\((.*)\)", inner)
        return bool(match) and _compatible(arrow_type.value_type, match[1])
    if pa.types.is_map(arrow_type):
        match = re.fullmatch(r"Map\((.*), (.*)\)", inner)
        return (
            bool(match)
            and _compatible(arrow_type.key_type, match[1])
            and _compatible(arrow_type.item_type, match[2])
        )
    base = re.split(r"[(,]", inner, maxsplit=1)[0]
    return base in _SCALARS.get(str(arrow_type), set())


def _unwrap(clickhouse: str) -> str:
    """The type inside LowCardinality(...), Nullable(...), SimpleAggregateFunction(f, ...)."""
    while True:
        match = re.fullmatch(r"(?:LowCardinality|Nullable)\((.*)\)", clickhouse) or re.fullmatch(
            r"SimpleAggregateFunction\(\w+, (.*)\)", clickhouse
        )
        if not match:
            return clickhouse
        clickhouse = match[1]


def _kinds() -> list[Kind]:
    return [REGISTRY.kind_of(_envelope(**{field: _empty(field)})) for field in REGISTRY.fields]


def _empty(field: str) -> Any:
    return getattr(pb, PAYLOAD_FIELDS[field].rsplit(".", 1)[1])()


def _envelope(**payload: Any) -> pb.Envelope:
    return pb.Envelope(
        event_id=uuid.uuid4().hex,
        project="tests",
        run_id=uuid.uuid4().hex,
        seq=1,
        time_unix_nano=time.time_ns(),
        sdk_version="tests",
        **payload,
    )
