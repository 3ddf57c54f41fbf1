"""Turn a user's config (dicts, dataclasses, argparse namespaces, ...) into typed params.

Nested structures become dotted keys (``optimizer.lr``); every leaf keeps its type
(number, integer, bool, text) so SQL can filter and sort by it. Credential-like
keys, and secrets inside text values, are redacted here (:mod:`.redaction`), before
anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

from .errors import InvalidConfigError
from .limits import MAX_TEXT_VALUE_BYTES, key_problem, text_problem
from .redaction import REDACTED, Scrubber, is_credential_key
from .wire import events_pb2 as pb

ParamValue = float | int | bool | str

MAX_CONFIG_DEPTH = 64
"""Nesting deeper than this is refused by name (deeper is a cycle or a mistake)."""


def flatten_config(config: object, prefix: str = "") -> dict[str, ParamValue]:
    """Flatten ``config`` to ``{dotted.key: scalar}``; raises InvalidConfigError naming the key."""
    flat: dict[str, ParamValue] = {}
    for key, value in _items(config, prefix):
        _flatten_into(flat, key, value, (id(config),))
    return flat


def to_params(
    flat: Mapping[str, ParamValue], scrubber: Scrubber | None = None, what: str = "config key"
) -> list[pb.Param]:
    """Typed wire params: credential-like keys redacted, texts scrubbed (counted by
    ``scrubber``)."""
    scrubber = scrubber or Scrubber()
    params = [
        pb.Param(key=key, value=to_wire_value(key, value, what)) for key, value in flat.items()
    ]
    scrubber.count += sum(is_credential_key(param.key) for param in params)
    texts = {
        param.key: param.value.text
        for param in params
        if param.value.WhichOneof("kind") == "text" and not is_credential_key(param.key)
    }
    clean = scrubber.values(texts)
    for param in params:
        if param.key in clean:
            param.value.text = clean[param.key]
    return params


def to_wire_value(key: str, value: ParamValue, what: str = "config key") -> pb.Value:
    """One typed wire value; the key is only used for redaction and error messages."""
    if is_credential_key(key):
        return pb.Value(text=REDACTED)
    if isinstance(value, bool):
        return pb.Value(flag=value)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            return pb.Value(text=str(value))
        return pb.Value(integer=value)
    if isinstance(value, float):
        return pb.Value(number=value)
    problem = text_problem(value, max_bytes=MAX_TEXT_VALUE_BYTES)
    if problem:
        if "limit" in problem:
            problem = f"text longer than {MAX_TEXT_VALUE_BYTES} bytes"
        raise InvalidConfigError.of(f"{what} {key!r}", problem)
    return pb.Value(text=value)


def scalar(key: str, value: object, what: str = "config key") -> ParamValue:
    """Coerce one leaf value to a storable scalar, or raise naming the key."""
    if value is None:
        return "None"
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, enum.Enum):
        return scalar(key, value.value, what) if isinstance(value.value, int | str) else value.name
    if isinstance(value, PurePath):
        return str(value)
    item = getattr(value, "item", None)  # numpy scalars and 0-d tensors
    if callable(item) and getattr(value, "ndim", 0) == 0:
        return scalar(key, item(), what)
    raise InvalidConfigError.of(
        f"{what} {key!r}",
        f"cannot record a value of type {type(value).__name__}",
        "; use numbers, strings, bools, lists, dicts or dataclasses",
    )


def _enter(key: str, value: object, ancestors: tuple[int, ...]) -> tuple[int, ...]:
    """``ancestors`` with ``value`` added; InvalidConfigError naming ``key`` for a cycle."""
    if id(value) in ancestors:
        raise InvalidConfigError.of(
            f"config key {key!r}", "the config contains itself here (a reference cycle)"
        )
    if len(ancestors) > MAX_CONFIG_DEPTH:
        raise InvalidConfigError.of(
            f"config key {key!r}", f"nested more than {MAX_CONFIG_DEPTH} levels deep"
        )
    return (*ancestors, id(value))


def _flatten_into(
    flat: dict[str, ParamValue], key: str, value: object, ancestors: tuple[int, ...]
) -> None:
    if _is_nested(value):
        inner = _enter(key, value, ancestors)
        nested = list(_items(value, key))
        if not nested:
            _put(flat, key, "{}")
        for child_key, child in nested:
            _flatten_into(flat, child_key, child, inner)
    elif isinstance(value, list | tuple | set | frozenset):
        _put(flat, key, json.dumps(_plain(key, value, ancestors)))
    else:
        _put(flat, key, scalar(key, value))


def _put(flat: dict[str, ParamValue], key: str, value: ParamValue) -> None:
    if key in flat:
        raise InvalidConfigError(
            f"config key {key!r} is given twice (once as a dotted key, once nested)"
        )
    flat[key] = value


def _plain(key: str, value: object, ancestors: tuple[int, ...]) -> object:
    """Lists (of lists, of dicts) as JSON-ready values: ``[64, 128]`` reads better than
    ``layers.0``; credential-like keys inside are redacted."""
    if isinstance(value, set | frozenset):
        return sorted((_plain(key, item, ancestors) for item in value), key=str)
    if isinstance(value, list | tuple):
        inner = _enter(key, value, ancestors)
        return [_plain(key, item, inner) for item in value]
    if _is_nested(value):
        inner = _enter(key, value, ancestors)
        return {
            child_key: REDACTED if is_credential_key(child_key) else _plain(key, child, inner)
            for child_key, child in _items(value, "")
        }
    return scalar(key, value)


def _is_nested(value: object) -> bool:
    return (
        isinstance(value, Mapping | argparse.Namespace)
        or (dataclasses.is_dataclass(value) and not isinstance(value, type))
        or hasattr(value, "model_dump")
    )


def _items(config: object, prefix: str) -> Iterable[tuple[str, object]]:
    if config is None:
        return []
    if isinstance(config, argparse.Namespace):
        mapping: Mapping[Any, object] = vars(config)
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        mapping = {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}
    elif hasattr(config, "model_dump"):  # pydantic models
        mapping = config.model_dump()
    elif isinstance(config, Mapping):
        mapping = config
    else:
        raise InvalidConfigError(
            f"config must be a dict, dataclass or argparse.Namespace, got {type(config).__name__}"
        )
    pairs = []
    for raw_key, value in mapping.items():
        key = f"{prefix}.{raw_key}" if prefix else str(raw_key)
        problem = key_problem(key)
        if problem:
            raise InvalidConfigError(f"config key {key!r}: {problem}")
        pairs.append((key, value))
    return pairs
