"""Record an evaluation as an event of its own (``Envelope.evaluation``) through the ingest core.

``runstream eval`` computes from stored samples, then writes the result the way every
event is written (validation, the kind's rows, events_seen), on the CLI's store session:
the same on an embedded store and on a server fed by Kafka. The event is a function of
what was evaluated: its id is derived from the run, split, step, options and the ids of
the sample events (the run's and each run baseline's), and its time is the newest
sample's, so evaluating the same samples the same way again is a replay the store
skips, and a run's liveness is not moved by an evaluation made long after it ended.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from runstream import __version__
from runstream.wire import events_pb2 as pb

from .evaluation import Evaluation, Metric


def evaluation_id(
    project: str,
    run_id: str,
    split: str,
    step: int,
    options: Mapping[str, str],
    samples: Iterable[str],
) -> str:
    """32 hex chars, the same for the same evaluation of the same sample events."""
    material = json.dumps(
        [project, run_id, split, step, sorted(options.items()), sorted(set(samples))]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def evaluation_envelope(
    *,
    project: str,
    run_id: str,
    split: str,
    step: int,
    result: Evaluation,
    baselines: Sequence[Metric],
    options: Mapping[str, str],
    event_id: str,
    time_unix_nano: int,
) -> pb.Envelope:
    payload = pb.EvaluationResult(
        split=split,
        step=step,
        task=result.task,
        sample_count=result.count,
        class_names=result.class_names,
        options=dict(options),
        metrics=[_metric(m) for m in [*result.metrics, *baselines]],
        calibration=[
            pb.CalibrationBin(
                bin=b.bin,
                low=b.low,
                high=b.high,
                confidence=b.confidence,
                accuracy=b.accuracy,
                count=b.count,
            )
            for b in result.calibration
        ],
        confusion=[
            pb.ConfusionCell(label=label, prediction=prediction, count=count)
            for label, prediction, count in result.confusion
        ],
    )
    return pb.Envelope(
        event_id=event_id,
        project=project,
        run_id=run_id,
        seq=0,  # not from the run's producer: no place in its sequence
        time_unix_nano=time_unix_nano,
        sdk_version=__version__,
        evaluation=payload,
    )


def _metric(m: Metric) -> pb.EvaluationMetric:
    out = pb.EvaluationMetric(
        metric=m.metric,
        class_name=m.class_name,
        slice_key=m.slice_key,
        slice_value=m.slice_value,
        baseline=m.baseline,
        value=m.value,
        count=m.count,
    )
    if m.ci is not None:
        out.has_ci, out.ci_low, out.ci_high = True, m.ci[0], m.ci[1]
    return out


def record(client: Any, envelope: pb.Envelope) -> str:
    """Store the envelope through the ingest core: 'recorded', 'already recorded', or the
    dead letter's reason (e.g. ``oversized``)."""
    from ..ingest.core import Incoming, IngestCore
    from ..sinks.clickhouse import ClickHouseSink

    sink = ClickHouseSink(client)
    try:
        outcome = IngestCore(sink, "eval").process(
            [Incoming(envelope.SerializeToString(deterministic=True), None)]
        )
    finally:
        sink.close()
    if outcome.letters:
        letter = outcome.letters[0]
        return f"refused ({letter.reason}: {letter.detail})"
    return "recorded" if outcome.written else "already recorded"
