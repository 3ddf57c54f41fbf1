"""When the worker may say it has caught up: the store holds every record of every assigned
partition up to the high watermarks the broker gave just now (the end-to-end case, with a
broker outage, is tests/faults/test_worker_liveness.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from runstream.settings import load_settings
from runstream_processors.worker.journal import Journal
from runstream_processors.worker.pipeline import Pipeline, _Partition
from runstream_processors.worker.store_writer import StoreWriter


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    stop = threading.Event()
    writer = StoreWriter(load_settings(tmp_path), Journal("127.0.0.1:1", "g", "t"), stop)
    built = Pipeline(writer, stop)
    yield built
    built._executor.shutdown()


def test_behind_counts_stored_partitions_from_what_is_stored(pipeline: Pipeline) -> None:
    pipeline._partitions[0] = _Partition(generation=1, written_through=10)
    assert pipeline.behind({0: 10}, {0: 10}) == 0
    assert pipeline.behind({0: 12}, {0: 12}) == 2, "fetched is not stored"


def test_behind_counts_other_partitions_from_their_fetch_position(pipeline: Pipeline) -> None:
    assert pipeline.behind({1: 5, 2: 0}, {1: 5, 2: 0}) == 0, "nothing new there"
    assert pipeline.behind({1: 5}, {1: 3}) == 2
    assert pipeline.behind({1: 5}, {1: None}) == 5, "an unknown position is not caught up"
