"""The SDK modules the processors may import: a declared contract, checked by a test.

Users of the SDK get ``runstream.__all__``. The processors (``runstream_processors``, the
store server) share more than that with the SDK: the wire contract, the spool they
consume, the settings, the limits the validation enforces, and a few building blocks.
Those modules are listed here. A change to their public names must be made together with
the processors; every other SDK module is internal and may change freely.
``tests/processors/test_sdk_surface.py`` fails on any import of an SDK module outside
this set (and on private names, those with a leading underscore, taken from one), and
``processors/README.md`` explains what each is used for.
"""

from __future__ import annotations

PROCESSOR_MODULES = frozenset(
    {
        "runstream",  # the public API (__all__): __version__, the error types
        "runstream.wire.events_pb2",  # the wire contract: every event is an Envelope
        "runstream.settings",  # RUNSTREAM_* settings: data root, spool dirs, services
        "runstream.spool",  # reading the spool: SpoolReader, Checkpoint, consumer_lock
        "runstream.limits",  # sizes and patterns the SDK guarantees and validation checks
        "runstream.metric_batch",  # the columnar metric payload: encode, point_count
        "runstream.errors",  # RunstreamError, MissingExtraError, InvalidInputError, ...
        "runstream.backoff",  # retry delays shared by the shipper, uploads and the worker
        "runstream.shipper",  # `runstream sync`: ship_leftovers, ShipperOptions
        "runstream.artifacts",  # `runstream artifacts` and sync: stores, S3, upload_pending
    }
)
"""Fully qualified module names; ``from runstream.wire import events_pb2`` counts as
``runstream.wire.events_pb2``."""
