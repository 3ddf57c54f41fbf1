"""Chart geometry for the report: numbers in, SVG coordinates and path data out.

Charts are inline SVG drawn here rather than by a JavaScript library: the file stays
small, renders the same every time, and runs no script. Path data holds only numbers;
every label goes through the template, which escapes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .data import Point

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def fmt(value: float | None) -> str:
    """A number short enough for an axis or a cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e6):
        return str(int(value))
    return f"{value:.4g}"


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Series:
    run_id: str
    color: str
    line: str
    """SVG path data of the mean; empty for a single point (drawn as ``dot``)."""
    band: str
    """SVG path data of the min/max band; empty where min == max everywhere."""
    dot: tuple[float, float] | None


@dataclass(frozen=True)
class LineChart:
    title: str
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]


@dataclass(frozen=True)
class Scale:
    low: float
    high: float
    start: float
    end: float
    log: bool = False

    def __call__(self, value: float) -> float:
        low, high, value = (
            (math.log10(self.low), math.log10(self.high), math.log10(value))
            if self.log
            else (self.low, self.high, value)
        )
        share = 0.5 if high == low else (value - low) / (high - low)
        return round(self.start + share * (self.end - self.start), 2)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high == low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def line_chart(
    title: str,
    curves: Mapping[str, Sequence[Point]],
    colors: Mapping[str, str],
    width: int = 560,
    height: int = 260,
) -> LineChart:
    """One metric's curves, one series per run, overlaid on shared axes."""
    left, top, right, bottom = 60, 12, 14, 30
    plot_width, plot_height = width - left - right, height - top - bottom
    points = [point for run in curves.values() for point in run if _finite(point.value)]
    steps = [point.step for point in points] or [0.0]
    values = [v for p in points for v in (p.low, p.high, p.value) if _finite(v)] or [0.0]
    x = Scale(min(steps), max(steps), left, left + plot_width)
    y_low, y_high = min(values), max(values)
    pad = (y_high - y_low) * 0.05 or abs(y_high) * 0.05 or 1.0
    y = Scale(y_low - pad, y_high + pad, top + plot_height, top)
    series = []
    for run_id, run in curves.items():
        finite = [point for point in run if _finite(point.value)]
        if not finite:
            continue
        line = " ".join(
            f"{'M' if i == 0 else 'L'}{x(p.step)},{y(p.value)}" for i, p in enumerate(finite)
        )
        ranged = [p for p in finite if _finite(p.low) and _finite(p.high)]
        band = ""
        if len(ranged) > 1 and any(p.low != p.high for p in ranged):
            upper = [f"{x(p.step)},{y(p.high)}" for p in ranged]
            lower = [f"{x(p.step)},{y(p.low)}" for p in reversed(ranged)]
            band = "M" + " L".join(upper + lower) + " Z"
        single = len(finite) == 1
        series.append(
            Series(
                run_id=run_id,
                color=colors[run_id],
                line="" if single else line,
                band=band,
                dot=(x(finite[0].step), y(finite[0].value)) if single else None,
            )
        )
    return LineChart(
        title=title,
        width=width,
        height=height,
        left=left,
        top=top,
        plot_width=plot_width,
        plot_height=plot_height,
        series=series,
        x_ticks=[Tick(x(t), fmt(t)) for t in nice_ticks(x.low, x.high)],
        y_ticks=[Tick(y(t), fmt(t)) for t in nice_ticks(y_low, y_high)],
    )


@dataclass(frozen=True)
class Axis:
    label: str
    x: float
    ticks: list[Tick]


@dataclass(frozen=True)
class Polyline:
    run_id: str
    color: str
    points: str


@dataclass(frozen=True)
class ParallelChart:
    width: int
    height: int
    top: int
    bottom: int
    axes: list[Axis]
    lines: list[Polyline]


def parallel_coordinates(
    columns: Mapping[str, Mapping[str, str | float]],
    colors: Mapping[str, str],
    width: int = 900,
    height: int = 320,
) -> ParallelChart:
    """One vertical axis per column (params, then the metric), one polyline per run.

    Numbers get a linear axis, or a log one when all are positive and span 100x or more;
    other values are spread evenly in sorted order.
    """
    top, bottom, side = 36, height - 24, 70
    names = list(columns)
    gap = (width - 2 * side) / max(len(names) - 1, 1)
    positions: dict[str, dict[str, float]] = {}
    axes = []
    for index, name in enumerate(names):
        values = columns[name]
        numbers = {k: v for k, v in values.items() if isinstance(v, float | int)}
        if len(numbers) == len(values):
            low, high = min(numbers.values()), max(numbers.values())
            log = low > 0 and high / low >= 100
            scale = Scale(low, high, bottom, top, log=log)
            ticks_at = _log_ticks(low, high) if log else nice_ticks(low, high, 4)
            ticks = [Tick(scale(t), fmt(t)) for t in ticks_at if low <= t <= high] or [
                Tick(scale(low), fmt(low))
            ]
            positions[name] = {run_id: scale(value) for run_id, value in numbers.items()}
        else:
            levels = sorted({str(v) for v in values.values()})
            spread = Scale(0, max(len(levels) - 1, 1), bottom, top)
            at = {level: spread(i) for i, level in enumerate(levels)}
            ticks = [Tick(at[level], level) for level in levels]
            positions[name] = {run_id: at[str(value)] for run_id, value in values.items()}
        axes.append(Axis(name, round(side + index * gap, 2), ticks))
    lines = []
    for run_id, run_color in colors.items():
        points = [
            f"{axis.x},{positions[axis.label][run_id]}"
            for axis in axes
            if run_id in positions[axis.label]
        ]
        if len(points) > 1:
            lines.append(Polyline(run_id, run_color, " ".join(points)))
    return ParallelChart(width, height, top, bottom, axes, lines)


@dataclass(frozen=True)
class Bar:
    label: str
    width: float
    y: float
    score: float
    color: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    bars: list[Bar]


def bar_chart(scores: Sequence[tuple[str, float]], width: int = 560) -> BarChart:
    """Horizontal bars of |score|, longest first; blue where positive, red where negative."""
    left, row = 170, 24
    largest = max((abs(score) for _, score in scores), default=1.0) or 1.0
    bars = [
        Bar(
            label=label,
            width=round(abs(score) / largest * (width - left - 70), 2),
            y=8 + index * row,
            score=score,
            color="#1f77b4" if score >= 0 else "#d62728",
        )
        for index, (label, score) in enumerate(scores)
    ]
    return BarChart(width, 16 + len(bars) * row, left, bars)


def _log_ticks(low: float, high: float) -> list[float]:
    return [10.0**e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
