"""Everything besides metrics a run records: summary values, sample predictions, artifacts."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np
import pytest
import runstream
from runstream.limits import MAX_ENVELOPE_BYTES, MAX_SAMPLE_FIELD_BYTES, MAX_TEXT_VALUE_BYTES
from runstream.redaction import REDACTED
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb

StartRun = Callable[..., runstream.Run]
ReadEnvelopes = Callable[[Settings], list[pb.Envelope]]


def of_kind(envelopes: list[pb.Envelope], kind: str) -> list[pb.Envelope]:
    return [envelope for envelope in envelopes if envelope.WhichOneof("payload") == kind]


def typed(params: list[pb.Param]) -> dict[str, tuple[str, object]]:
    return {
        param.key: (kind, getattr(param.value, kind))
        for param in params
        if (kind := param.value.WhichOneof("kind")) is not None
    }


# -- summary -------------------------------------------------------------------------------


def test_summary_values_arrive_typed_as_updates_and_in_run_finished(
    start_run: StartRun, read_envelopes: ReadEnvelopes, runstream_dir: Settings
) -> None:
    run = start_run()
    run.summary["accuracy"] = 0.5
    run.summary["accuracy"] = 0.9  # the latest value wins
    run.summary["best_epoch"] = np.int64(7)
    run.summary["converged"] = True
    run.summary["checkpoint"] = "epoch-7.pt"
    run.summary["api_token"] = "must-not-leak"
    assert dict(run.summary) == {
        "accuracy": 0.9,
        "best_epoch": 7,
        "converged": True,
        "checkpoint": "epoch-7.pt",
        "api_token": "must-not-leak",
    }
    run.finish()

    envelopes = read_envelopes(runstream_dir)
    updates = [typed(list(e.summary.entries)) for e in of_kind(envelopes, "summary")]
    assert updates == [
        {"accuracy": ("number", 0.5)},
        {"accuracy": ("number", 0.9)},
        {"best_epoch": ("integer", 7)},
        {"converged": ("flag", True)},
        {"checkpoint": ("text", "epoch-7.pt")},
        {"api_token": ("text", REDACTED)},
    ]
    assert typed(list(envelopes[-1].run_finished.summary)) == {
        "accuracy": ("number", 0.9),
        "best_epoch": ("integer", 7),
        "converged": ("flag", True),
        "checkpoint": ("text", "epoch-7.pt"),
        "api_token": ("text", REDACTED),
    }


def test_summary_rejects_bad_keys_and_values(start_run: StartRun) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidKeyError, match="summary key"):
        run.summary[""] = 1.0
    with pytest.raises(runstream.InvalidInputError, match="'model'"):
        run.summary["model"] = object()
    assert dict(run.summary) == {}
    run.finish()


def test_a_rejected_summary_value_does_not_prevent_finishing(
    start_run: StartRun, read_envelopes: ReadEnvelopes, runstream_dir: Settings
) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidInputError, match="'notes'"):
        run.summary["notes"] = "x" * (MAX_TEXT_VALUE_BYTES + 1)
    assert "notes" not in run.summary
    report = run.finish()
    assert report.status == "finished"
    assert runstream.active_run() is None
    assert read_envelopes(runstream_dir)[-1].WhichOneof("payload") == "run_finished"


# -- samples -------------------------------------------------------------------------------


def test_samples_are_recorded_with_inputs_predictions_labels_and_ids(
    start_run: StartRun, read_envelopes: ReadEnvelopes, runstream_dir: Settings
) -> None:
    run = start_run()
    run.log_samples(
        ["a cat", {"pixels": [1, 2]}, np.array([0.5, 1.5])],
        ["cat", "dog", 3],
        ["cat", "cat", 3],
        step=12,
        split="eval",
        ids=["img-1", "img-2", "img-3"],
    )
    run.log_samples(["unlabelled"], ["?"], step=13)
    run.finish()

    first, second = (e.samples for e in of_kind(read_envelopes(runstream_dir), "samples"))
    assert (first.step, first.split, second.step, second.split) == (12, "eval", 13, "")
    assert [(s.id, s.input, s.prediction, s.label, s.has_label) for s in first.samples] == [
        ("img-1", "a cat", "cat", "cat", True),
        ("img-2", '{"pixels": [1, 2]}', "dog", "cat", True),
        ("img-3", "[0.5, 1.5]", "3", "3", True),
    ]
    [unlabelled] = second.samples
    assert (unlabelled.id, unlabelled.has_label, unlabelled.label) == ("0", False, "")


@pytest.mark.parametrize(
    ("predictions", "labels", "ids", "message"),
    [
        (["a"], None, None, "2 inputs but 1 predictions"),
        (["a", "b"], ["a"], None, "2 inputs but 1 labels"),
        (["a", "b"], ["a", "b"], ["only-one"], "2 inputs but 1 ids"),
    ],
)
def test_samples_of_different_lengths_are_refused(
    start_run: StartRun,
    read_envelopes: ReadEnvelopes,
    runstream_dir: Settings,
    predictions: list[str],
    labels: list[str] | None,
    ids: list[str] | None,
    message: str,
) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidValueError, match=message):
        run.log_samples(["x", "y"], predictions, labels, ids=ids)
    run.finish()
    assert of_kind(read_envelopes(runstream_dir), "samples") == []


def test_an_oversized_sample_field_is_refused_by_name(start_run: StartRun) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidValueError, match=r"inputs\[1\].*limit") as raised:
        run.log_samples(["ok", "x" * (MAX_SAMPLE_FIELD_BYTES + 1)], ["a", "b"])
    assert str(MAX_SAMPLE_FIELD_BYTES) in str(raised.value)
    with pytest.raises(runstream.InvalidValueError, match=r"predictions\[0\]: bytes"):
        run.log_samples(["ok"], [b"\x89PNG"])
    run.finish()


def test_a_field_at_the_limit_is_accepted(
    start_run: StartRun, read_envelopes: ReadEnvelopes, runstream_dir: Settings
) -> None:
    run = start_run()
    run.log_samples(["é" * (MAX_SAMPLE_FIELD_BYTES // 2)], ["p"])  # 2 bytes per character
    run.finish()
    [batch] = of_kind(read_envelopes(runstream_dir), "samples")
    assert len(batch.samples.samples[0].input.encode()) == MAX_SAMPLE_FIELD_BYTES


def test_many_large_samples_are_split_into_envelopes_the_processors_accept(
    start_run: StartRun, read_envelopes: ReadEnvelopes, runstream_dir: Settings
) -> None:
    """Each field is within its limit, so the call is valid; no envelope may exceed the
    processors' MAX_ENVELOPE_BYTES (Kafka's message limit), or they would all be dead-lettered."""
    run = start_run()
    inputs = [f"{i:04d}" + "x" * (MAX_SAMPLE_FIELD_BYTES - 100) for i in range(40)]
    run.log_samples(inputs, ["p"] * 40, step=1)
    run.finish()
    envelopes = read_envelopes(runstream_dir)
    oversized = [
        len(e.SerializeToString())
        for e in envelopes
        if len(e.SerializeToString()) > MAX_ENVELOPE_BYTES
    ]
    assert oversized == [], f"envelopes over {MAX_ENVELOPE_BYTES} bytes: {oversized}"
    recorded = [s.input for e in of_kind(envelopes, "samples") for s in e.samples.samples]
    assert recorded == inputs


# -- artifacts -----------------------------------------------------------------------------


def stored_path(uri: str) -> Path:
    assert uri.startswith("file://"), uri
    return Path(url2pathname(urlsplit(uri).path))


def test_an_artifact_is_stored_by_content_and_recorded(
    start_run: StartRun, read_envelopes: ReadEnvelopes, runstream_dir: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "model.pt"
    source.write_bytes(b"weights v1" * 1000)
    run = start_run()
    digest = run.log_artifact(source, kind="checkpoint", metadata={"epoch": "3"})
    run.finish()

    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    [artifact] = [e.artifact for e in of_kind(read_envelopes(runstream_dir), "artifact")]
    assert (artifact.name, artifact.kind, artifact.sha256, artifact.size_bytes) == (
        "model.pt",
        "checkpoint",
        digest,
        10_000,
    )
    assert artifact.source_path == str(source.resolve())
    assert dict(artifact.metadata) == {"epoch": "3"}
    stored = stored_path(artifact.uri)
    assert stored == runstream_dir.artifacts_dir / "sha256" / digest[:2] / digest
    assert stored.read_bytes() == source.read_bytes()


def test_the_same_content_twice_is_stored_once(
    start_run: StartRun, read_envelopes: ReadEnvelopes, runstream_dir: Settings, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")
    run = start_run()
    assert run.log_artifact(first) == run.log_artifact(second, name="copy")
    run.finish()

    artifacts = [e.artifact for e in of_kind(read_envelopes(runstream_dir), "artifact")]
    assert [a.name for a in artifacts] == ["a.bin", "copy"]  # two records ...
    assert len({a.uri for a in artifacts}) == 1  # ... of one stored file
    store = runstream_dir.artifacts_dir / "sha256"
    assert [p.name for p in store.rglob("*") if p.is_file()] == [artifacts[0].sha256]
    staging = runstream_dir.artifacts_dir / "staging"
    assert not staging.exists() or list(staging.iterdir()) == [], "staging files left behind"


def test_a_later_change_to_the_source_does_not_change_the_stored_copy(
    start_run: StartRun, read_envelopes: ReadEnvelopes, runstream_dir: Settings, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "last.ckpt"
    checkpoint.write_bytes(b"epoch 1")
    run = start_run()
    digest_1 = run.log_artifact(checkpoint)
    checkpoint.write_bytes(b"epoch 2, overwritten by the next save")
    digest_2 = run.log_artifact(checkpoint)
    run.finish()

    assert digest_1 != digest_2
    first, second = (e.artifact for e in of_kind(read_envelopes(runstream_dir), "artifact"))
    assert stored_path(first.uri).read_bytes() == b"epoch 1"
    assert stored_path(second.uri).read_bytes() == b"epoch 2, overwritten by the next save"


def test_artifacts_that_are_not_files_are_refused(start_run: StartRun, tmp_path: Path) -> None:
    run = start_run(strict=True)
    with pytest.raises(runstream.InvalidInputError, match="not a file"):
        run.log_artifact(tmp_path)
    with pytest.raises(runstream.InvalidInputError, match="not a file"):
        run.log_artifact(tmp_path / "missing.pt")
    source = tmp_path / "ok.bin"
    source.write_bytes(b"x")
    with pytest.raises(runstream.InvalidInputError, match="artifact name"):
        run.log_artifact(source, name="x" * 300)
    run.finish()


def test_an_artifact_through_a_symlink_stores_the_target_content(
    start_run: StartRun, tmp_path: Path
) -> None:
    target = tmp_path / "real.bin"
    target.write_bytes(b"real content")
    link = tmp_path / "latest.bin"
    os.symlink(target, link)
    run = start_run()
    assert run.log_artifact(link) == hashlib.sha256(b"real content").hexdigest()
    run.finish()
