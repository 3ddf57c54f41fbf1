"""The shared ``kafka`` checkpoint: shippers of several processes never undo each other's work."""

from __future__ import annotations

import os
import time
from pathlib import Path

from runstream.shipper import SharedCheckpoint
from runstream.spool import Checkpoint, written_by_this_process


def segment(spool: Path, name: str, size: int = 100) -> str:
    spool.mkdir(parents=True, exist_ok=True)
    (spool / name).write_bytes(b"x" * size)
    return name


def test_saves_merge_instead_of_overwriting(tmp_path: Path) -> None:
    first, second = segment(tmp_path, "a.seg"), segment(tmp_path, "b.seg")
    mine, theirs = SharedCheckpoint(tmp_path), SharedCheckpoint(tmp_path)
    mine.checkpoint.offsets[first] = 50
    theirs.checkpoint.offsets[second] = 70
    theirs.checkpoint.offsets[first] = 20  # behind: must not win
    mine.save()
    theirs.save()
    assert Checkpoint.load(tmp_path, "kafka").offsets == {first: 50, second: 70}


def test_a_segment_given_up_stays_given_up_and_deleted_ones_are_forgotten(
    tmp_path: Path,
) -> None:
    damaged, gone = segment(tmp_path, "a.seg"), segment(tmp_path, "b.seg")
    mine, theirs = SharedCheckpoint(tmp_path), SharedCheckpoint(tmp_path)
    mine.checkpoint.offsets.update({damaged: -1, gone: 100})
    mine.save()
    (tmp_path / gone).unlink()
    theirs.checkpoint.offsets[damaged] = 80
    theirs.save()
    assert Checkpoint.load(tmp_path, "kafka").offsets == {damaged: -1}


def test_a_process_ships_only_the_segments_it_wrote(tmp_path: Path) -> None:
    since = time.time_ns()
    selects = written_by_this_process(since)
    pid = os.getpid()
    assert selects(tmp_path / f"{since + 1:020d}-{pid}-abcdef12.seg")
    assert not selects(tmp_path / f"{since - 1:020d}-{pid}-abcdef12.seg")  # a recycled pid
    assert not selects(tmp_path / f"{since + 1:020d}-{pid + 1}-abcdef12.seg")
