"""A dead letter always fits the DLQ producer's max request size; small ones stay whole."""

from __future__ import annotations

from runstream_processors.sinks.base import DeadLetter
from runstream_processors.worker.dlq import MAX_REQUEST_SIZE, _record_size, fitted
from runstream_processors.worker.records import RawRecord
from runstream_processors.worker.store_writer import Rejected


def rejected(value: bytes | None) -> Rejected:
    letter = DeadLetter("oversized", "d" * 5000, value or b"", "kafka", "e" * 32, "p", "r" * 32)
    return Rejected(RawRecord(2, 17, b"key", value), letter)


def test_a_letter_that_fits_is_sent_whole() -> None:
    value, headers = fitted(rejected(b"x" * 1000), "events")
    assert value == b"x" * 1000
    assert "runstream.truncated" not in dict(headers)
    assert dict(headers)["runstream.source.offset"] == b"17"


def test_a_record_just_under_1_mib_is_cut_to_fit() -> None:
    original = bytes(range(256)) * (1_048_400 // 256) + b"z" * (1_048_400 % 256)
    value, headers = fitted(rejected(original), "events")
    assert value is not None and original.startswith(value) and len(value) < len(original)
    found = dict(headers)
    assert found["runstream.truncated"] == b"1"
    assert found["runstream.original_size"] == b"1048400"
    assert found["runstream.source.partition"] == b"2"
    assert _record_size(b"key", value, headers) <= MAX_REQUEST_SIZE


def test_a_tombstone_stays_a_tombstone() -> None:
    value, headers = fitted(rejected(None), "events")
    assert value is None and "runstream.truncated" not in dict(headers)
