"""Native output for clients that name a protocol revision (clickhouse-go, Grafana's plugin).

Over HTTP, ClickHouse writes Native blocks the way the TCP protocol of the client's
``client_protocol_version`` would: a BlockInfo before each block and, from revision
54454, a "custom serialization" flag after each column's type. chdb only writes
revision 0 and has no way to ask for more, so the server re-frames its blocks: the
column bytes are unchanged, but finding where a column ends needs its type.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from . import errors

CUSTOM_SERIALIZATION_REVISION = 54454
TIME_ZONE_REVISION = 54337  # DBMS_MIN_REVISION_WITH_TIME_ZONE_PARAMETER_IN_DATETIME_DATA_TYPE
_BARE_DATETIME = re.compile(r"\bDateTime(?![0-9(])")
_ZONE = re.compile(r"\bDateTime\('(?:[^'\\]|\\.)*'\)")
# BlockInfo as the TCP protocol writes it: field 1 is_overflows=0, field 2 bucket_num=-1, end.
BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"

_FIXED = {
    "UInt8": 1,
    "Int8": 1,
    "Bool": 1,
    "Enum8": 1,
    "Nothing": 1,
    "UInt16": 2,
    "Int16": 2,
    "Enum16": 2,
    "Date": 2,
    "BFloat16": 2,
    "UInt32": 4,
    "Int32": 4,
    "Float32": 4,
    "Date32": 4,
    "DateTime": 4,
    "IPv4": 4,
    "Decimal32": 4,
    "Time": 4,
    "UInt64": 8,
    "Int64": 8,
    "Float64": 8,
    "DateTime64": 8,
    "Decimal64": 8,
    "Time64": 8,
    "UInt128": 16,
    "Int128": 16,
    "UUID": 16,
    "IPv6": 16,
    "Decimal128": 16,
    "UInt256": 32,
    "Int256": 32,
    "Decimal256": 32,
}
_ALIASES = {
    "Point": "Tuple(Float64, Float64)",
    "Ring": "Array(Point)",
    "LineString": "Array(Point)",
    "Polygon": "Array(Ring)",
    "MultiLineString": "Array(LineString)",
    "MultiPolygon": "Array(Polygon)",
}


@dataclass(frozen=True)
class DataType:
    name: str
    args: tuple[DataType, ...] = ()
    literal: str = ""
    """The raw argument text, for types whose arguments are numbers (FixedString, Decimal)."""


def reframe(data: bytes, revision: int, types: Sequence[str] | None = None) -> bytes:
    """chdb's revision-0 Native ``data`` as ClickHouse writes it for ``revision``.

    ``types``: the result's column types as the engine describes them; from revision
    54337 a ``DateTime`` that chdb wrote without its zone gets it back from there.
    """
    if revision <= 0 or not data:
        return data
    out = bytearray()
    pos = 0
    while pos < len(data):
        pos = _block(data, pos, revision, out, types)
    return bytes(out)


def zones_dropped(data: bytes) -> bool:
    """Whether the first block of ``data`` has a DateTime type that may have lost its zone."""
    if not data:
        return False
    try:
        return any(_BARE_DATETIME.search(name) for name in column_types(data))
    except (IndexError, UnicodeDecodeError, errors.ClickHouseError):
        return False


def column_types(data: bytes) -> list[str]:
    """The type names of the first block of ``data``."""
    columns, pos = _varint(data, 0)
    rows, pos = _varint(data, pos)
    names: list[str] = []
    for index in range(columns):
        name_length, pos = _varint(data, pos)
        pos += name_length
        type_length, pos = _varint(data, pos)
        type_name = data[pos : pos + type_length].decode()
        names.append(type_name)
        pos += type_length
        if rows and index + 1 < columns:
            pos = _skip(data, pos, parse_type(type_name), rows)
    return names


def _with_zone(bare: str, described: str) -> str:
    """``described`` when it is ``bare`` with DateTime zones, else ``bare``."""
    return described if _ZONE.sub("DateTime", described) == bare else bare


def _block(
    buf: bytes, pos: int, revision: int, out: bytearray, types: Sequence[str] | None = None
) -> int:
    start = pos
    columns, pos = _varint(buf, pos)
    rows, pos = _varint(buf, pos)
    out += BLOCK_INFO
    out += buf[start:pos]
    for index in range(columns):
        head = pos
        name_length, pos = _varint(buf, pos)
        pos += name_length
        name_end = pos
        type_length, pos = _varint(buf, pos)
        type_name = buf[pos : pos + type_length].decode()
        pos += type_length
        if (
            types is not None
            and revision >= TIME_ZONE_REVISION
            and index < len(types)
            and _BARE_DATETIME.search(type_name)
        ):
            named = _with_zone(type_name, types[index]).encode()
            out += buf[head:name_end] + _encode_varint(len(named)) + named
        else:
            out += buf[head:pos]
        if revision >= CUSTOM_SERIALIZATION_REVISION:
            out += b"\x00"
        data_start = pos
        if rows:
            pos = _skip(buf, pos, parse_type(type_name), rows)
        out += buf[data_start:pos]
    return pos


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _skip(buf: bytes, pos: int, dtype: DataType, rows: int) -> int:
    """Where the serialized column of ``rows`` values of ``dtype`` at ``pos`` ends.

    A Native column is its type's serialization prefixes (all of them, nested types
    included, before any data: e.g. ``Array(LowCardinality(String))`` starts with the
    LowCardinality key version, then the array offsets), then its data.
    """
    return _skip_data(buf, _skip_prefix(buf, pos, dtype), dtype, rows)


def _skip_prefix(buf: bytes, pos: int, dtype: DataType) -> int:
    if dtype.name == "LowCardinality":
        return pos + 8  # KeysSerializationVersion
    for element in dtype.args:  # Array, Map, Nullable, Tuple, Nested: their elements' prefixes
        pos = _skip_prefix(buf, pos, element)
    return pos


def _skip_data(buf: bytes, pos: int, dtype: DataType, rows: int) -> int:
    name = dtype.name
    width = _width(dtype)
    if width:
        return pos + width * rows
    if name == "String":
        return _skip_strings(buf, pos, rows)
    if name == "Nullable":
        return _skip_data(buf, pos + rows, dtype.args[0], rows)
    if name in ("Array", "Map", "Nested"):
        total = int.from_bytes(buf[pos + 8 * (rows - 1) : pos + 8 * rows], "little") if rows else 0
        element = dtype.args[0] if name == "Array" else DataType("Tuple", dtype.args)
        return _skip_data(buf, pos + 8 * rows, element, total)
    if name == "Tuple":
        for element in dtype.args:
            pos = _skip_data(buf, pos, element, rows)
        return pos
    if name == "LowCardinality":
        return _skip_low_cardinality(buf, pos, dtype.args[0], rows)
    raise errors.ClickHouseError(
        errors.NOT_IMPLEMENTED,
        f"chdb_http cannot frame a {name} column as Native for this client's protocol "
        "revision; ask for another output format (e.g. RowBinaryWithNamesAndTypes or JSON)",
    )


def _width(dtype: DataType) -> int:
    if dtype.name == "FixedString":
        return int(dtype.literal)
    if dtype.name == "Decimal":
        precision = int(dtype.literal.split(",")[0])
        return 4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32
    if dtype.name.startswith("Interval"):
        return 8
    return _FIXED.get(dtype.name, 0)


def _skip_strings(buf: bytes, pos: int, rows: int) -> int:
    for _ in range(rows):
        length = buf[pos]
        if length < 0x80:
            pos += 1 + length
        else:
            length, pos = _varint(buf, pos)
            pos += length
    return pos


def _skip_low_cardinality(buf: bytes, pos: int, inner: DataType, rows: int) -> int:
    """Granules: flags, optional keys, then the row indexes (the prefix is skipped already)."""
    dictionary = inner.args[0] if inner.name == "Nullable" else inner
    done = 0
    while done < rows:
        flags = int.from_bytes(buf[pos : pos + 8], "little")
        pos += 8
        if flags & (1 << 9):  # HasAdditionalKeysBit
            keys = int.from_bytes(buf[pos : pos + 8], "little")
            pos = _skip_data(buf, pos + 8, dictionary, keys)
        count = int.from_bytes(buf[pos : pos + 8], "little")
        pos += 8 + count * (1 << (flags & 0xFF))
        done += count
    return pos


def parse_type(text: str) -> DataType:
    """Parse a ClickHouse type name such as ``Array(LowCardinality(Nullable(String)))``."""
    dtype, rest = _parse(text.strip())
    if rest.strip():
        raise ValueError(f"unexpected {rest!r} in type {text!r}")
    return dtype


def _parse(text: str) -> tuple[DataType, str]:
    index = 0
    while index < len(text) and (text[index].isalnum() or text[index] == "_"):
        index += 1
    name, rest = text[:index], text[index:].lstrip()
    if name in _ALIASES:
        return parse_type(_ALIASES[name]), rest
    if not rest.startswith("("):
        return DataType(name), rest
    inner, rest = _balanced(rest)
    if name in ("SimpleAggregateFunction",):
        return parse_type(_split_args(inner)[1]), rest
    if name in ("Nullable", "Array", "Map", "Tuple", "LowCardinality", "Nested"):
        return DataType(name, tuple(parse_type(_element(arg)) for arg in _split_args(inner))), rest
    return DataType(name, (), inner), rest


def _balanced(text: str) -> tuple[str, str]:
    depth, quoted = 0, False
    for index, char in enumerate(text):
        if quoted:
            quoted = char != "'" or text[index - 1] == "\\"
        elif char == "'":
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return text[1:index], text[index + 1 :]
    raise ValueError(f"unbalanced type {text!r}")


def _split_args(text: str) -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if quoted:
            quoted = char != "'" or text[index - 1] == "\\"
        elif char == "'":
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def _element(arg: str) -> str:
    """A tuple element's type without its name: ``a UInt8`` -> ``UInt8``."""
    head = arg.split("(", 1)[0].strip()
    if " " in head:
        return arg.split(None, 1)[1] if not head.startswith("`") else arg.split("` ", 1)[1]
    return arg
