"""Draw metric curves of several runs into a PNG (train solid, eval dashed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runstream.errors import MissingExtraError

Curve = tuple[str, str, list[dict[str, Any]]]
"""(run label, split, points with step/value/low/high)."""


def plot_curves(path: Path, metric: str, curves: Sequence[Curve]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "plot") from exc
    figure, axes = plt.subplots(figsize=(9, 5), dpi=110)
    colors: dict[str, str] = {}
    for label, split, points in curves:
        if not points:
            continue
        color = colors.setdefault(label, f"C{len(colors) % 10}")
        steps = [point["step"] for point in points]
        style = "--" if split not in ("train", "") else "-"
        axes.plot(
            steps,
            [point["value"] for point in points],
            style,
            color=color,
            label=f"{label} ({split or 'no split'})",
            linewidth=1.4,
            marker="o" if len(points) < 30 else None,
            markersize=3,
        )
        if len(points) > 1 and any(p["low"] != p["high"] for p in points):
            axes.fill_between(
                steps,
                [p["low"] for p in points],
                [p["high"] for p in points],
                color=color,
                alpha=0.12,
                linewidth=0,
            )
    axes.set_title(f"{metric} by step")
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
