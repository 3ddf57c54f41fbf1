"""The registry: payload fields of the Envelope, read from the proto descriptor, to kinds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError
from ..tables import DEAD_LETTERS, EVENTS_SEEN, LIVENESS, Table, TableRows
from .base import Kind

PAYLOAD_FIELDS: dict[str, str] = {
    field.name: field.message_type.full_name
    for field in pb.Envelope.DESCRIPTOR.oneofs_by_name["payload"].fields
    if field.message_type is not None
}
"""Every payload field of ``runstream.v1.Envelope`` and the message it carries."""

COMMON_TABLES = (EVENTS_SEEN, LIVENESS, DEAD_LETTERS)


class Registry:
    """Kinds by payload field; built once, at import, from the kinds' modules."""

    def __init__(self, kinds: Iterable[Kind]) -> None:
        self._kinds: dict[str, Kind] = {}
        for kind in kinds:
            if kind.field not in PAYLOAD_FIELDS:
                raise ValueError(f"kind {kind.field!r} is not a payload field of the Envelope")
            if kind.field in self._kinds:
                raise ValueError(f"kind {kind.field!r} is registered twice")
            self._kinds[kind.field] = kind
        self.tables = _tables(self._kinds.values())

    @property
    def fields(self) -> list[str]:
        return list(self._kinds)

    def unregistered(self) -> list[str]:
        """Payload fields no kind handles (a test keeps this empty)."""
        return [name for name in PAYLOAD_FIELDS if name not in self._kinds]

    def kind_of(self, envelope: pb.Envelope) -> Kind:
        field = envelope.WhichOneof("payload")
        if field is None:
            raise InvalidEventError("empty_payload", "the envelope carries no payload")
        kind = self._kinds.get(field)
        if kind is None:
            raise InvalidEventError("unknown_kind", f"no processor handles payload {field!r}")
        return kind

    def rows(
        self,
        envelopes: Iterable[pb.Envelope],
        fingerprints: Mapping[str, str] = MappingProxyType({}),
    ) -> TableRows:
        """Every table row of validated ``envelopes``, including events_seen and liveness.

        ``fingerprints``: the hex sha256 of each event's original bytes, by event_id, kept
        in events_seen (events without one get '').
        """
        out = TableRows()
        for envelope in envelopes:
            kind = self.kind_of(envelope)
            kind.rows(envelope, out)
            last_log, log_calls = kind.log_activity(envelope)
            out.row(
                LIVENESS,
                project=envelope.project,
                run_id=envelope.run_id,
                last_seen=envelope.time_unix_nano,
                heartbeat_interval_ms=kind.heartbeat_interval_ms(envelope),
                last_log=last_log,
                log_calls=log_calls,
                rank=envelope.rank,
            )
            out.row(
                EVENTS_SEEN,
                event_id=envelope.event_id,
                project=envelope.project,
                run_id=envelope.run_id,
                kind=kind.field,
                seq=envelope.seq,
                produced_at=envelope.time_unix_nano,
                payload_sha256=fingerprints.get(envelope.event_id, ""),
            )
        return out


def _tables(kinds: Iterable[Kind]) -> dict[str, Table]:
    tables = {table.name: table for table in COMMON_TABLES}
    for kind in kinds:
        for table in kind.tables:
            if table.name in tables:
                raise ValueError(f"table {table.name!r} is declared twice")
            tables[table.name] = table
    return tables
