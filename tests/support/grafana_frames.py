"""What a panel receives: the plugin's frames from a result, then the panel's transformations.

A model of only what runstream's dashboards use, each piece after its source; anything
else raises ``Unsupported``, so a dashboard that starts using more fails its proof.

- Field types (the plugin's ``pkg/converters``): ``Date*``/``DateTime*`` are time,
  ``(U)Int*``/``Float*``/``Decimal*`` numbers, ``Bool`` boolean, ``String``/``FixedString``/
  ``Enum*``/``UUID`` strings (``Nullable``/``LowCardinality`` unwrapped); anything else
  (``Array``, ``Map``, ``Tuple``, JSON) is "other".
- Formats (``sqlutil.FormatQueryOption`` of grafana-plugin-sdk-go, applied by sqlds): 1
  (table) gives one frame as the rows came; 0 (time series) needs a time field, and a long
  result (string fields beside it) becomes one wide frame by ``data.LongToWide``: one row
  per distinct time (rows must come sorted by time, else it fails), one field per value
  field and combination of the string fields, those as the field's labels.
- ``partitionByValues`` (public/app/features/transformers/partitionByValues): splits the
  *first* frame into one per distinct combination of the key fields (in first-seen order),
  the keys dropped unless ``keepFields`` and, with ``naming.asLabels`` (the default),
  added to each field's labels; no rows gives no frames.
- ``joinByField`` (packages/grafana-data/.../joinByField.ts): with more than one frame,
  one frame joined on ``byField``; outer (the default) keeps every value of it, sorted.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from support.grafana_queries import Unsupported

TIME, NUMBER, STRING, BOOLEAN, OTHER = "time", "number", "string", "boolean", "other"


def field_type(clickhouse_type: str) -> str:
    inner = clickhouse_type
    while True:
        wrapped = re.fullmatch(r"(?:Nullable|LowCardinality)\((.*)\)", inner)
        if not wrapped:
            break
        inner = wrapped[1]
    if re.match(r"Date", inner):
        return TIME
    if re.match(r"(U?Int\d+|Float\d+|Decimal)", inner):
        return NUMBER
    if inner == "Bool":
        return BOOLEAN
    if re.match(r"(String|FixedString|Enum8|Enum16|UUID)\b", inner):
        return STRING
    return OTHER


@dataclass
class Field:
    name: str
    type: str
    values: list[Any]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class Frame:
    fields: list[Field]

    @property
    def length(self) -> int:
        return len(self.fields[0].values) if self.fields else 0

    def named(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


class FrameError(Exception):
    """Grafana or the plugin would show an error instead of the panel."""


def result_frames(
    columns: Sequence[Mapping[str, str]], rows: Sequence[Sequence[Any]], format_: int
) -> list[Frame]:
    fields = []
    for i, column in enumerate(columns):
        kind = field_type(column["type"])
        values = [row[i] for row in rows]
        if kind == TIME:  # clickhouse-go's time.Time, as the goclient writes it (RFC 3339)
            values = [v if v is None else datetime.datetime.fromisoformat(v) for v in values]
        fields.append(Field(column["name"], kind, values))
    frame = Frame(fields)
    if format_ == 1 or not rows:  # sqlds converts nothing in an empty result
        return [frame]
    if format_ == 1:
        return [frame]
    if format_ != 0:
        raise Unsupported(f"query format {format_}")
    times = [f for f in fields if f.type == TIME]
    if not times:
        raise FrameError("a time series query without a time column")
    if not any(f.type == STRING for f in fields):
        return [frame]
    return [_long_to_wide(frame, times[0])]


def _long_to_wide(frame: Frame, time: Field) -> Frame:
    factors = [f for f in frame.fields if f.type == STRING]
    measures = [f for f in frame.fields if f.type in (NUMBER, BOOLEAN)]
    order: list[Any] = []
    cells: dict[tuple[str, tuple[tuple[str, str], ...]], dict[Any, Any]] = {}
    last: Any = None
    for row in range(frame.length):
        at = time.values[row]
        if last is not None and at < last:
            raise FrameError("long series must be sorted ascending by time to be converted")
        if at != last:
            order.append(at)
            last = at
        key = tuple((f.name, "" if f.values[row] is None else str(f.values[row])) for f in factors)
        for measure in measures:
            cells.setdefault((measure.name, key), {})[at] = measure.values[row]
    wide = [Field(time.name, TIME, order)]
    for (name, key), by_time in cells.items():
        kind = next(m.type for m in measures if m.name == name)
        wide.append(Field(name, kind, [by_time.get(at) for at in order], dict(key)))
    return Frame(wide)


def transform(frames: list[Frame], transformations: Sequence[Mapping[str, Any]]) -> list[Frame]:
    for step in transformations:
        if step.get("disabled"):
            continue
        if step.get("filter"):
            raise Unsupported(f"a frame filter on {step['id']}")
        options = step.get("options") or {}
        if step["id"] == "partitionByValues":
            frames = _partition(frames, options)
        elif step["id"] == "joinByField":
            frames = _join(frames, options)
        else:
            raise Unsupported(f"transformation {step['id']!r}")
    return frames


def _partition(frames: list[Frame], options: Mapping[str, Any]) -> list[Frame]:
    if not frames:
        return frames
    naming = {"asLabels": True, **(options.get("naming") or {})}
    if not naming["asLabels"]:
        raise Unsupported("partitionByValues naming frames instead of labels")
    frame, names = frames[0], list(options.get("fields") or [])
    keys = [f for f in frame.fields if f.name in names]
    if not keys:
        return [frame]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for row in range(frame.length):
        groups.setdefault(tuple(k.values[row] for k in keys), []).append(row)
    kept = [f for f in frame.fields if options.get("keepFields") or f.name not in names]
    out = []
    for values, rows in groups.items():
        labels = {k.name: str(v) for k, v in zip(keys, values, strict=True)}
        out.append(
            Frame(
                [
                    Field(f.name, f.type, [f.values[r] for r in rows], {**f.labels, **labels})
                    for f in kept
                ]
            )
        )
    return out


def _join(frames: list[Frame], options: Mapping[str, Any]) -> list[Frame]:
    if len(frames) <= 1:
        return frames
    if options.get("mode", "outer") != "outer":
        raise Unsupported(f"joinByField mode {options['mode']!r}")
    by = options.get("byField")
    if not by:
        raise Unsupported("joinByField without byField")
    joined_keys: set[Any] = set()
    for frame in frames:
        key = frame.named(by)
        if key is None:
            raise Unsupported(f"a frame without the join field {by!r}")
        joined_keys.update(key.values)
    keys = sorted(joined_keys)
    first = frames[0].named(by)
    assert first is not None
    out = [Field(by, first.type, keys)]
    for frame in frames:
        key = frame.named(by)
        assert key is not None
        for f in frame.fields:
            if f is key:
                continue
            at = dict(zip(key.values, f.values, strict=True))
            out.append(Field(f.name, f.type, [at.get(k) for k in keys], f.labels))
    return [Frame(out)]


def check_shape(panel: Mapping[str, Any], frames: list[Frame]) -> None:
    """Raise FrameError where the panel could not draw what it got (no data is fine)."""
    kind = panel["type"]
    title = panel.get("title")
    drawn = [f for f in frames if f.length > 0]
    if kind == "table" or not drawn:
        return
    if kind == "timeseries":
        for frame in drawn:
            if not any(f.type == TIME for f in frame.fields):
                raise FrameError(f"{title}: a time series frame without a time field")
            if not any(f.type == NUMBER for f in frame.fields):
                raise FrameError(f"{title}: a time series frame without numbers")
    elif kind == "trend":
        if len(frames) != 1:
            raise FrameError(f"{title}: the trend panel draws one frame, got {len(frames)}")
        x = frames[0].named(panel["options"]["xField"])
        if x is None or x.type != NUMBER:
            raise FrameError(f"{title}: no numeric x field")
        if any(v is None for v in x.values) or x.values != sorted(x.values):
            raise FrameError(f"{title}: x must ascend without gaps")
        if not any(f.type == NUMBER and f is not x for f in frames[0].fields):
            raise FrameError(f"{title}: nothing to draw against x")
    elif kind == "barchart":
        if len(frames) != 1:
            raise FrameError(f"{title}: the bar chart draws one frame, got {len(frames)}")
        x = frames[0].named(panel["options"].get("xField", ""))
        if x is None or x.type not in (STRING, TIME):
            raise FrameError(f"{title}: no string or time x field")
        if not any(f.type == NUMBER for f in frames[0].fields):
            raise FrameError(f"{title}: no numbers to draw")
    elif kind == "xychart":
        for frame in drawn:
            if sum(f.type == NUMBER for f in frame.fields) < 2:
                raise FrameError(f"{title}: an XY chart needs two numeric fields")
    else:
        raise Unsupported(f"panel type {kind!r}")
