"""``runstream eval RUN``: metrics, slices, calibration and baselines from logged samples.

The numbers are computed from the run's stored samples of one split and step
(``analysis/evaluation.py``) and recorded as an evaluation event through the ingest core
(``analysis/evaluation_event.py``), so ``runs``, ``compare``, dashboards and SQL
(``runstream.evaluation_*`` views) see them; evaluating the same samples the same way
again records nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from runstream.errors import MissingExtraError

from .. import queries
from ..errors import QueryError
from .context import settings_from
from .output import emit_document, errors, format_option
from .session import store_for_query

DEFAULT_BASELINES = ("random", "majority")


@click.command("eval")
@click.argument("run")
@click.option("--split", default="eval", show_default=True, help="the samples' split")
@click.option("--step", type=int, default=None, help="the samples' step [default: the newest]")
@click.option("--by", multiple=True, help="a slice to break the metrics down by (repeatable)")
@click.option(
    "--baseline",
    "baselines",
    multiple=True,
    help="random, majority (zero rule) or a RUN to compare with (repeatable) "
    "[default: random and majority]",
)
@click.option(
    "--bins",
    type=click.IntRange(2, 1000),
    default=15,
    show_default=True,
    help="equal-width confidence bins of ECE, MCE and the reliability diagram",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.999),
    default=0.95,
    show_default=True,
    help="level of the confidence intervals",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="draw the reliability diagram into this PNG",
)
@click.option("--no-record", is_flag=True, help="show the numbers without storing them")
@format_option
@click.pass_context
def eval_command(
    ctx: click.Context,
    run: str,
    split: str,
    step: int | None,
    by: tuple[str, ...],
    baselines: tuple[str, ...],
    bins: int,
    confidence: float,
    plot_path: Path | None,
    no_record: bool,
    output_format: str,
) -> None:
    """Evaluate RUN's logged samples: accuracy, per-class precision/recall/F1, confusion,
    per-slice numbers with confidence intervals, calibration (ECE, MCE, Brier) or
    MAE/RMSE/R², each beside its baselines with the lift over them."""
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("scikit-learn", "analysis") from exc
    from ..analysis import evaluation as ev
    from ..analysis.evaluation_event import evaluation_envelope, evaluation_id, record

    options = ev.Options(bins=bins, by=by, confidence=confidence)
    with store_for_query(settings_from(ctx), "runstream eval") as client:
        found = queries.resolve_run(client, run)
        run_id = found["run_id"]
        at, rows = queries.evaluable_samples(client, run_id, split, step)
        if at is None or not rows:
            where = f"split {split!r}" + ("" if step is None else f" at step {step}")
            raise QueryError(f"run {found['name']!r} logged no samples in {where}")
        samples = ev.samples_from_rows(rows)
        result = ev.evaluate(samples, options)
        sources = [row["event_id"] for row in rows]
        train: ev.Samples | None = None
        if split != "train":
            _, train_rows = queries.evaluable_samples(client, run_id, "train")
            if train_rows:
                train = ev.samples_from_rows(train_rows)
                sources += [row["event_id"] for row in train_rows]
        columns: list[tuple[str, list[ev.Metric]]] = []
        for name in baselines or DEFAULT_BASELINES:
            label, metrics, used = _baseline(client, name, split, samples, train, options)
            columns.append((label, metrics))
            sources += used
        stored = [m for _, metrics in columns for m in metrics]
        recorded = "not recorded (--no-record)"
        event_id = evaluation_id(
            found["project"], run_id, split, at, _options(options, columns), sources
        )
        if not no_record:
            envelope = evaluation_envelope(
                project=found["project"],
                run_id=run_id,
                split=split,
                step=at,
                result=result,
                baselines=stored,
                options=_options(options, columns),
                event_id=event_id,
                time_unix_nano=max(int(row["time_ns"]) for row in rows),
            )
            recorded = record(client, envelope)
    about = {
        "run": found["name"],
        "run_id": run_id,
        "split": split,
        "step": at,
        "task": result.task,
        "samples": result.count,
        "classes": len(result.class_names),
        "evaluation": event_id,
        "stored": recorded,
    }
    shown = result.metrics if output_format != "table" else _at_a_glance(result.metrics)
    document: dict[str, Any] = {
        "evaluation": about,
        "metrics": _rows(shown, columns, compact=output_format == "table"),
    }
    if result.calibration:
        document["calibration"] = [b.__dict__ for b in result.calibration]
    if output_format == "json":
        document["confusion"] = [
            {"label": label, "prediction": prediction, "count": count}
            for label, prediction, count in result.confusion
        ]
    emit_document(document, output_format)
    if plot_path is not None:
        _plot(plot_path, result, found["name"], split, at)


def _baseline(
    client: Any,
    name: str,
    split: str,
    samples: Any,
    train: Any,
    options: Any,
) -> tuple[str, list[Any], list[str]]:
    """(column label, the baseline's metrics, sample event ids it rests on)."""
    from ..analysis import evaluation as ev

    if name == ev.RANDOM:
        guesses = ev.random_baseline(samples, train)
        return name, ev.evaluate(guesses, options, baseline=name).metrics, []
    if name == ev.MAJORITY:
        zero_rule = ev.majority_baseline(samples, train)
        return name, ev.evaluate(zero_rule, options, baseline=name).metrics, []
    other = queries.resolve_run(client, name)
    at, rows = queries.evaluable_samples(client, other["run_id"], split)
    if at is None or not rows:
        raise QueryError(f"baseline run {other['name']!r} logged no samples in split {split!r}")
    label = f"run:{other['run_id']}"
    theirs = ev.evaluate(ev.samples_from_rows(rows), options, baseline=label).metrics
    return label, theirs, [row["event_id"] for row in rows]


def _options(options: Any, columns: list[tuple[str, list[Any]]]) -> dict[str, str]:
    return {
        "bins": str(options.bins),
        "by": ",".join(options.by),
        "confidence": str(options.confidence),
        "baselines": ",".join(label for label, _ in columns),
    }


_GLANCE = {
    "": (
        *("accuracy", "precision_macro", "recall_macro", "f1_macro", "ece", "mce", "brier"),
        *("mae", "rmse", "r2", "precision", "recall", "f1"),
    ),
    "slice": ("accuracy", "f1_macro", "ece", "mae", "rmse"),
}


def _at_a_glance(metrics: list[Any]) -> list[Any]:
    """What a table shows: the weighted averages and most per-slice numbers are left to
    --format json|csv (and the store)."""
    return [m for m in metrics if m.metric in _GLANCE["slice" if m.slice_key else ""]]


def _rows(
    metrics: list[Any], columns: list[tuple[str, list[Any]]], compact: bool
) -> list[dict[str, Any]]:
    from ..analysis.evaluation import lifts

    theirs = [({m.key: m.value for m in ms}, lifts(metrics, ms)) for _, ms in columns]
    number = (lambda v: None if v is None else f"{v:.3f}") if compact else (lambda v: v)
    out = []
    for m in metrics:
        row: dict[str, Any] = {
            "slice": f"{m.slice_key}={m.slice_value}" if m.slice_key else "",
            "metric": m.metric,
            "class": m.class_name,
            "value": number(m.value),
        }
        if compact:
            row["CI"] = None if m.ci is None else f"{m.ci[0]:.2f}-{m.ci[1]:.2f}"
        else:
            row["ci_low"], row["ci_high"] = (None, None) if m.ci is None else m.ci
        row["n"] = m.count
        for (label, _), (values, lift) in zip(columns, theirs, strict=True):
            short = label if not label.startswith("run:") else f"run:{label[4:12]}"
            row[short] = number(values.get(m.key))
            row[f"lift vs {short}" if not compact else f"Δ {short}"] = number(lift.get(m.key))
        out.append(row)
    return out


def _plot(path: Path, result: Any, name: str, split: str, step: int) -> None:
    from ..analysis.evaluation import expected_calibration_error
    from .reliability_plot import plot_reliability

    if not result.calibration:
        raise QueryError("no reliability diagram: the samples have no probabilities or scores")
    ece = expected_calibration_error(result.calibration, result.count)
    plot_reliability(path, result.calibration, result.count, f"{name} ({split}, step {step})", ece)
    errors.print(f"wrote {path}")
