"""Checks several kinds share: keys, and columns that must line up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runstream.limits import key_problem
from runstream.wire import events_pb2 as pb

from ..errors import InvalidEventError


def check_keys(where: str, keys: Iterable[str]) -> None:
    for key in keys:
        problem = key_problem(key)
        if problem:
            raise InvalidEventError("invalid_key", f"{where} key {key!r}: {problem}")


def check_columns(
    where: str, key_count: int, key_index: Sequence[int], *columns: Sequence[object]
) -> None:
    """Parallel columns have one length, and ``key_index`` points into the keys."""
    lengths = {len(key_index), *(len(column) for column in columns)}
    if len(lengths) != 1:
        raise InvalidEventError(
            "invalid_columns", f"{where} columns have different lengths {sorted(lengths)}"
        )
    if key_index and max(key_index) >= key_count:
        raise InvalidEventError(
            "invalid_columns", f"{where} key_index points past its {key_count} keys"
        )


def typed(value: pb.Value) -> tuple[str, float | None, str]:
    """A typed value as the (value_type, value_number, value_text) columns of params/summaries."""
    kind = value.WhichOneof("kind")
    if kind == "number":
        return "number", value.number, repr(value.number)
    if kind == "integer":
        return "integer", float(value.integer), str(value.integer)
    if kind == "flag":
        return "bool", float(value.flag), str(value.flag).lower()
    return "text", None, value.text
