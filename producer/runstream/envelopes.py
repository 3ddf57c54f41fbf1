"""Stamp payloads into Envelopes: ids, per-run sequence numbers, time, SDK version."""

from __future__ import annotations

import time
import uuid
from typing import TypeVar

from google.protobuf.message import Message

from .limits import MAX_PAYLOAD_BYTES, MAX_TEXT_VALUE_BYTES, truncated_text
from .version import __version__
from .wire import events_pb2 as pb

Payload = Message
"""Any payload message of the Envelope's ``payload`` oneof."""

_FIELD_BY_MESSAGE: dict[str, str] = {
    field.message_type.full_name: field.name
    for field in pb.Envelope.DESCRIPTOR.oneofs_by_name["payload"].fields
    if field.message_type is not None
}
"""Payload message name → Envelope field, read from the descriptor: a new kind needs no edit."""

_Item = TypeVar("_Item", pb.Param, pb.Package)
_ITEM_OVERHEAD = 6
"""A repeated field's tag and length prefix, at most."""


def new_id() -> str:
    """32 lowercase hex characters: run ids and event ids."""
    return uuid.uuid4().hex


class EnvelopeFactory:
    """Wraps payloads of one run; used from the recorder thread only, so ``seq`` is ordered."""

    def __init__(self, project: str, run_id: str, rank: int = 0) -> None:
        self.project = project
        self.run_id = run_id
        self.rank = rank
        """This process's rank in a distributed job (0 otherwise): on every envelope."""
        self._seq = 0

    def wrap(self, payload: Payload) -> pb.Envelope:
        self._seq += 1
        envelope = pb.Envelope(
            event_id=new_id(),
            project=self.project,
            run_id=self.run_id,
            seq=self._seq,
            time_unix_nano=time.time_ns(),
            sdk_version=__version__,
            rank=self.rank,
        )
        getattr(envelope, _FIELD_BY_MESSAGE[payload.DESCRIPTOR.full_name]).CopyFrom(payload)
        return envelope


_CUT_VARIABLE_BYTES = 1024
_CUT_ARGUMENT_BYTES = 4096
_RUN_STARTED_ROOM = MAX_PAYLOAD_BYTES - 4096
"""What the rest of a RunStarted may take once params and packages moved out: some of
them stay with it."""


def fit_run_started(
    started: pb.RunStarted,
) -> tuple[list[pb.RunStarted | pb.RunStartedContinued], int]:
    """``started`` as payloads that each fit in an envelope, and how many of its fields
    were cut to fit.

    Usually just ``started``. A config of thousands of keys or long values would make
    an envelope the processors must refuse, losing the whole run; instead the params
    and packages that do not fit follow in ``RunStartedContinued`` payloads. What still
    does not fit (megabytes of notes, of environment variables, of command line) is cut
    with a visible marker, or left out; the count goes into the run's report.
    """
    if started.ByteSize() <= MAX_PAYLOAD_BYTES:
        return [started], 0
    params, packages = list(started.params), list(started.environment.packages)
    del started.params[:]
    del started.environment.packages[:]
    truncated = _shrink(started)
    room = MAX_PAYLOAD_BYTES - started.ByteSize()
    kept_params, params = _take_fitting(params, room)
    started.params.extend(kept_params)
    room -= sum(_size(item) for item in kept_params)
    kept_packages, packages = _take_fitting(packages, room)
    started.environment.packages.extend(kept_packages)
    payloads: list[pb.RunStarted | pb.RunStartedContinued] = [started]
    while params or packages:
        more = pb.RunStartedContinued()
        chunk, params = _take_fitting(params, MAX_PAYLOAD_BYTES, at_least=1)
        more.params.extend(chunk)
        room = MAX_PAYLOAD_BYTES - more.ByteSize()
        chunk_packages, packages = _take_fitting(packages, room, at_least=0 if chunk else 1)
        more.packages.extend(chunk_packages)
        payloads.append(more)
    return payloads, truncated


def _shrink(started: pb.RunStarted) -> int:
    """Cut ``started`` (params and packages out) until it fits; returns the fields cut."""
    cut = 0

    def fits() -> bool:
        return started.ByteSize() <= _RUN_STARTED_ROOM

    if fits():
        return 0
    started.notes, removed = truncated_text(started.notes, MAX_TEXT_VALUE_BYTES)
    cut += removed > 0
    variables = started.environment.variables
    if not fits():
        for key in list(variables):
            variables[key], removed = truncated_text(variables[key], _CUT_VARIABLE_BYTES)
            cut += removed > 0
    if not fits():
        for index, arg in enumerate(started.command):
            started.command[index], removed = truncated_text(arg, _CUT_ARGUMENT_BYTES)
            cut += removed > 0
    if not fits():  # thousands of variables: leave out the largest until the rest fits
        for key in sorted(variables, key=lambda k: len(k) + len(variables[k]), reverse=True):
            del variables[key]
            cut += 1
            if fits():
                break
    if not fits():  # a command line of thousands of arguments: keep its head
        args = list(started.command)
        while args and not fits():
            args = args[: len(args) // 2]
            del started.command[:]
            started.command.extend([*args, "… [arguments truncated by runstream]"])
        cut += 1
    if not fits():
        started.notes, removed = truncated_text(started.notes, 1024)
        cut += removed > 0
    if not fits():  # tens of thousands of tags
        tags = list(started.tags)
        while tags and not fits():
            tags = tags[: len(tags) // 2]
            del started.tags[:]
            started.tags.extend(tags)
        cut += 1
    return cut


def _take_fitting(
    items: list[_Item], room: int, at_least: int = 0
) -> tuple[list[_Item], list[_Item]]:
    """The leading items that fit in ``room`` bytes (``at_least`` of them regardless), and the
    rest."""
    used = 0
    for index, item in enumerate(items):
        used += _size(item)
        if used > room and index >= at_least:
            return items[:index], items[index:]
    return items, []


def _size(item: pb.Param | pb.Package) -> int:
    return item.ByteSize() + _ITEM_OVERHEAD
