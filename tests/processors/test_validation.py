from __future__ import annotations

import time

import pytest
from runstream import metric_batch
from runstream.limits import MAX_ENVELOPE_BYTES
from runstream.wire import events_pb2 as pb
from runstream_processors.errors import InvalidEventError
from runstream_processors.validation import parse

RUN_ID = "a" * 32


def envelope(**payload: object) -> pb.Envelope:
    message = pb.Envelope(
        event_id="b" * 32,
        project="proj",
        run_id=RUN_ID,
        seq=1,
        time_unix_nano=time.time_ns(),
        sdk_version="test",
    )
    for field, value in payload.items():
        getattr(message, field).CopyFrom(value)
    return message


def reason_of(data: bytes) -> str:
    with pytest.raises(InvalidEventError) as caught:
        parse(data)
    return caught.value.reason


def metrics(rows: list[tuple[int, int, dict[str, float]]]) -> pb.MetricBatch:
    return metric_batch.encode("train", rows)[0]


def test_a_valid_metric_batch_parses() -> None:
    batch = metrics([(1, 10, {"loss": 0.5}), (2, 20, {"loss": float("nan"), "acc": 1.0})])
    parsed = parse(envelope(metrics=batch).SerializeToString())
    points = list(metric_batch.decode(parsed.metrics))
    assert [(key, step) for key, step, _, _ in points] == [("loss", 1), ("loss", 2), ("acc", 2)]


def test_nan_and_inf_are_accepted_to_be_flagged_downstream() -> None:
    batch = metrics([(0, 1, {"x": float("inf")})])
    parsed = parse(envelope(metrics=batch).SerializeToString())
    assert list(metric_batch.decode(parsed.metrics).values) == [float("inf")]


def test_malformed_bytes() -> None:
    assert reason_of(b"\xff\xff\xff not protobuf") == "malformed"


def test_oversized_payload() -> None:
    assert reason_of(b"\x00" * (MAX_ENVELOPE_BYTES + 1)) == "oversized"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("event_id", "short", "invalid_id"),
        ("run_id", "Z" * 32, "invalid_id"),
        ("project", "bad project!", "invalid_project"),
        ("project", "", "invalid_project"),
        ("time_unix_nano", 0, "missing_field"),
    ],
)
def test_envelope_fields(field: str, value: object, reason: str) -> None:
    message = envelope(heartbeat=pb.Heartbeat(interval_ms=1000))
    setattr(message, field, value)
    assert reason_of(message.SerializeToString()) == reason


def test_missing_payload() -> None:
    assert reason_of(envelope().SerializeToString()) == "empty_payload"


@pytest.mark.parametrize(
    ("column", "data"),
    [
        ("values", b"\x00" * 12),
        ("steps", b"\x00" * 16),
        ("key_index", b"\x00" * 8),
        ("row_lengths", b"\x05\x00\x00\x00"),
    ],
)
def test_metric_columns_must_line_up(column: str, data: bytes) -> None:
    batch = metrics([(1, 10, {"loss": 0.5})])
    setattr(batch, column, data)
    assert reason_of(envelope(metrics=batch).SerializeToString()) == "invalid_columns"


def test_metric_key_index_in_range() -> None:
    batch = metrics([(1, 10, {"loss": 0.5})])
    batch.key_index = b"\x03\x00\x00\x00"
    assert reason_of(envelope(metrics=batch).SerializeToString()) == "invalid_columns"


def test_empty_metric_key() -> None:
    batch = metrics([(1, 10, {"loss": 0.5})])
    batch.keys[0] = ""
    assert reason_of(envelope(metrics=batch).SerializeToString()) == "invalid_key"


def test_params_continuing_run_started_have_their_keys_checked() -> None:
    more = pb.RunStartedContinued(params=[pb.Param(key="", value=pb.Value(integer=1))])
    assert reason_of(envelope(run_started_continued=more).SerializeToString()) == "invalid_key"


def test_artifact_needs_a_content_address() -> None:
    artifact = pb.ArtifactLogged(name="model", sha256="nothex", uri="file:///x")
    assert reason_of(envelope(artifact=artifact).SerializeToString()) == "invalid_artifact"


def test_run_finished_needs_a_status() -> None:
    assert (
        reason_of(envelope(run_finished=pb.RunFinished()).SerializeToString()) == "invalid_status"
    )


def test_unknown_fields_from_a_newer_producer_are_ignored() -> None:
    data = envelope(heartbeat=pb.Heartbeat(interval_ms=1000)).SerializeToString()
    unknown_field_99 = b"\x9a\x06\x03abc"  # field 99, length-delimited
    assert parse(data + unknown_field_99).heartbeat.interval_ms == 1000


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../outside.txt", "a/../../b", "twice.txt"], ids=str
)
def test_dataset_paths_stay_inside_the_dataset_and_appear_once(path: str) -> None:
    digest = "c" * 64
    files = [pb.DatasetFile(path=path, size_bytes=1, sha256=digest)]
    if path == "twice.txt":
        files.append(pb.DatasetFile(path=path, size_bytes=1, sha256=digest))
    dataset = pb.DatasetVersion(name="d", version="v1", role="train", root="data", files=files)
    assert reason_of(envelope(dataset=dataset).SerializeToString()) == "invalid_dataset"
    fine = pb.DatasetVersion(name="d", version="v1", files=[files[0]], root="/abs/ok")
    fine.files[0].path = "sub/ok.txt"
    assert parse(envelope(dataset=fine).SerializeToString()).dataset.root == "/abs/ok"
