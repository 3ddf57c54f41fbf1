"""Draw a reliability diagram (accuracy against confidence per bin) into a PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from runstream.errors import MissingExtraError

from ..analysis.evaluation import Bin


def plot_reliability(path: Path, bins: Sequence[Bin], count: int, title: str, ece: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "plot") from exc
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 7), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    widths = [b.high - b.low for b in bins]
    lows = [b.low for b in bins]
    top.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="perfectly calibrated")
    accuracies = [b.accuracy for b in bins]
    top.bar(
        lows,
        accuracies,
        width=widths,
        align="edge",
        alpha=0.8,
        edgecolor="black",
        linewidth=0.5,
        label="accuracy",
    )
    top.bar(
        lows,
        [b.confidence - b.accuracy for b in bins],
        bottom=accuracies,
        width=widths,
        align="edge",
        fill=False,
        hatch="//",
        edgecolor="red",
        linewidth=0.5,
        label="gap to mean confidence",
    )
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(f"{title}\nECE {ece:.4f} over {count} samples")
    top.legend(fontsize=8, loc="upper left")
    top.grid(alpha=0.3)
    bottom.bar(
        lows, [b.count for b in bins], width=widths, align="edge", color="C0", alpha=0.6, log=True
    )
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("samples")
    bottom.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
