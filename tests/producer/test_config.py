"""Config flattening: any reasonable config becomes typed dotted params; secrets never leave."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import runstream
from runstream.config import flatten_config, to_params
from runstream.limits import MAX_ENVELOPE_BYTES, MAX_KEY_LENGTH, MAX_TEXT_VALUE_BYTES
from runstream.redaction import REDACTED
from runstream.settings import Settings
from runstream.wire import events_pb2 as pb


def typed(params: list[pb.Param]) -> dict[str, tuple[str, object]]:
    """{key: (wire type, value)} — the type is what SQL filters and sorts by."""
    result: dict[str, tuple[str, object]] = {}
    for param in params:
        kind = param.value.WhichOneof("kind")
        assert kind is not None, f"param {param.key!r} has no value"
        result[param.key] = (kind, getattr(param.value, kind))
    return result


def wire(config: object) -> dict[str, tuple[str, object]]:
    return typed(to_params(flatten_config(config)))


class Color(enum.Enum):
    RED = "red"
    GREEN = 2
    BLUE = (0, 0, 255)


@dataclasses.dataclass
class Optimizer:
    name: str = "adamw"
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.999)


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 10
    optimizer: Optimizer = dataclasses.field(default_factory=Optimizer)
    amp: bool = True


# -- structure -----------------------------------------------------------------------------


def test_nested_dicts_become_dotted_keys() -> None:
    config = {"model": {"encoder": {"layers": 12, "dropout": 0.1}}, "seed": 3}
    assert flatten_config(config) == {
        "model.encoder.layers": 12,
        "model.encoder.dropout": 0.1,
        "seed": 3,
    }


def test_dataclasses_nest_like_dicts() -> None:
    assert wire(TrainConfig()) == {
        "epochs": ("integer", 10),
        "optimizer.name": ("text", "adamw"),
        "optimizer.lr": ("number", 3e-4),
        "optimizer.betas": ("text", "[0.9, 0.999]"),
        "amp": ("flag", True),
    }


def test_argparse_namespace() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(["--batch-size", "64"])
    assert wire(args) == {
        "lr": ("number", 0.01),
        "batch_size": ("integer", 64),
        "resume": ("flag", False),
    }


def test_lists_tuples_and_sets_are_kept_whole_as_json_text() -> None:
    flat = flatten_config({"layers": [64, 128], "shape": (3, 224, 224), "tags": {"b", "a"}})
    assert flat == {"layers": "[64, 128]", "shape": "[3, 224, 224]", "tags": '["a", "b"]'}
    assert json.loads(str(flat["layers"])) == [64, 128]


def test_nested_lists_and_lists_of_dicts_are_json_text() -> None:
    """Detection anchors and LR milestones are lists of lists; a data mix is a list of dicts."""
    flat = flatten_config(
        {"anchors": [[10, 13], [16, 30]], "mix": [{"name": "wiki", "weight": 0.7}]}
    )
    assert json.loads(str(flat["anchors"])) == [[10, 13], [16, 30]]
    assert json.loads(str(flat["mix"])) == [{"name": "wiki", "weight": 0.7}]


def test_empty_containers_are_recorded_not_dropped() -> None:
    assert flatten_config({"callbacks": {}, "milestones": []}) == {
        "callbacks": "{}",
        "milestones": "[]",
    }


def test_no_config_means_no_params() -> None:
    assert flatten_config(None) == {}


def test_two_spellings_of_one_key_are_an_error_not_a_silent_overwrite() -> None:
    """``{"optim.lr": 1, "optim": {"lr": 2}}`` both flatten to ``optim.lr``: one would be lost."""
    with pytest.raises(runstream.InvalidConfigError, match=r"optim\.lr"):
        flatten_config({"optim.lr": 0.1, "optim": {"lr": 0.2}})


# -- leaf types ----------------------------------------------------------------------------


def test_scalar_types_are_preserved_on_the_wire() -> None:
    assert wire({"lr": 0.1, "epochs": 3, "amp": False, "name": "resnet", "zero": 0.0}) == {
        "lr": ("number", 0.1),
        "epochs": ("integer", 3),
        "amp": ("flag", False),
        "name": ("text", "resnet"),
        "zero": ("number", 0.0),
    }


def test_bool_is_a_flag_not_an_integer() -> None:
    assert wire({"a": True, "b": 1}) == {"a": ("flag", True), "b": ("integer", 1)}


def test_enums_paths_and_none() -> None:
    assert wire(
        {
            "color": Color.RED,
            "level": Color.GREEN,
            "rgb": Color.BLUE,  # a value that is not a scalar: the member's name
            "data": Path("/data/imagenet"),
            "out": PurePosixPath("runs/1"),
            "scheduler": None,
        }
    ) == {
        "color": ("text", "red"),
        "level": ("integer", 2),
        "rgb": ("text", "BLUE"),
        "data": ("text", "/data/imagenet"),
        "out": ("text", "runs/1"),
        "scheduler": ("text", "None"),
    }


def test_numpy_scalars_keep_their_kind() -> None:
    assert wire(
        {
            "lr": np.float32(0.5),
            "wd": np.float64(1e-4),
            "batch": np.int64(256),
            "workers": np.uint8(8),
            "amp": np.bool_(True),
            "zero_d": np.array(7),
        }
    ) == {
        "lr": ("number", 0.5),
        "wd": ("number", 1e-4),
        "batch": ("integer", 256),
        "workers": ("integer", 8),
        "amp": ("flag", True),
        "zero_d": ("integer", 7),
    }


def test_numpy_scalars_inside_lists() -> None:
    assert flatten_config({"betas": [np.float64(0.9), np.float64(0.95)]}) == {
        "betas": "[0.9, 0.95]"
    }


def test_non_finite_floats_are_kept_as_text() -> None:
    assert wire({"clip": float("inf"), "x": float("nan")}) == {
        "clip": ("text", "inf"),
        "x": ("text", "nan"),
    }


def test_integers_beyond_int64_are_kept_exactly_as_text() -> None:
    assert wire({"big": 2**70, "edge": 2**63 - 1}) == {
        "big": ("text", str(2**70)),
        "edge": ("integer", 2**63 - 1),
    }


# -- errors --------------------------------------------------------------------------------


def test_an_unserializable_value_is_named_by_its_dotted_key() -> None:
    with pytest.raises(runstream.InvalidConfigError, match=r"'model\.init_fn'.*function"):
        flatten_config({"model": {"init_fn": lambda: None, "depth": 3}})


def test_an_unserializable_value_inside_a_list_is_named() -> None:
    with pytest.raises(runstream.InvalidConfigError, match=r"'callbacks'.*object"):
        flatten_config({"callbacks": [object()]})


def test_a_config_that_is_not_a_mapping_is_rejected() -> None:
    with pytest.raises(runstream.InvalidConfigError, match="config must be"):
        flatten_config(["lr", 0.1])


@pytest.mark.parametrize("key", ["", "   ", "bad\nkey"])
def test_empty_and_malformed_keys_are_rejected(key: str) -> None:
    with pytest.raises(runstream.InvalidConfigError, match="config key"):
        flatten_config({key: 1})


def test_a_key_at_the_length_limit_is_fine_and_one_past_it_is_not() -> None:
    assert flatten_config({"k" * MAX_KEY_LENGTH: 1}) == {"k" * MAX_KEY_LENGTH: 1}
    with pytest.raises(runstream.InvalidConfigError, match=f"limit is {MAX_KEY_LENGTH}"):
        flatten_config({"k" * (MAX_KEY_LENGTH + 1): 1})


def test_a_nested_key_too_long_as_a_whole_is_named() -> None:
    inner = "x" * (MAX_KEY_LENGTH - 3)
    with pytest.raises(runstream.InvalidConfigError, match=rf"'outer\.{inner}'"):
        flatten_config({"outer": {inner: 1}})


def test_text_over_the_limit_is_rejected_with_the_key() -> None:
    with pytest.raises(runstream.InvalidConfigError, match="'prompt'"):
        to_params(flatten_config({"prompt": "x" * (MAX_TEXT_VALUE_BYTES + 1)}))


def test_init_rejects_a_bad_config_before_starting_anything(runstream_dir: Settings) -> None:
    with pytest.raises(runstream.InvalidConfigError, match=r"'opt\.fn'"):
        runstream.init(project="tests", config={"opt": {"fn": print}}, capture_env=False)
    assert runstream.active_run() is None
    assert not runstream_dir.spool_dir.exists(), "a rejected init must not leave a run behind"


# -- redaction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "hf_token",
        "secret",
        "client_secret",
        "password",
        "api_key",
        "apiKey",
        "OPENAI_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "db.password",
        "wandb.api-key",
    ],
)
def test_credential_like_keys_are_redacted(key: str) -> None:
    assert wire({key: "hunter2"}) == {key: ("text", REDACTED)}


def test_nested_credentials_are_redacted_but_their_siblings_kept() -> None:
    config = {"db": {"host": "db.internal", "port": 5432, "password": "hunter2"}}
    assert wire(config) == {
        "db.host": ("text", "db.internal"),
        "db.port": ("integer", 5432),
        "db.password": ("text", REDACTED),
    }


def test_values_under_a_credential_like_parent_are_redacted() -> None:
    """``api_keys: {openai: sk-...}`` holds secrets although its leaves are named after vendors."""
    config = {"api_keys": {"openai": "sk-live-123", "anthropic": "sk-ant-456"}}
    assert wire(config) == {
        "api_keys.openai": ("text", REDACTED),
        "api_keys.anthropic": ("text", REDACTED),
    }


def test_credentials_inside_a_list_of_dicts_are_redacted_in_its_json_text() -> None:
    flat = flatten_config({"stores": [{"name": "s3", "secret_key": "abc123"}]})
    assert json.loads(str(flat["stores"])) == [{"name": "s3", "secret_key": REDACTED}]


def test_redaction_applies_to_any_type() -> None:
    assert wire({"secret_seed": 1234, "token": 3.5}) == {
        "secret_seed": ("text", REDACTED),
        "token": ("text", REDACTED),
    }


@pytest.mark.parametrize("key", ["sort_key", "monkey", "primary_key", "keyboard_layout", "lr"])
def test_harmless_keys_are_kept(key: str) -> None:
    assert wire({key: "value"}) == {key: ("text", "value")}


@pytest.mark.parametrize(
    "key", ["tokenizer", "max_tokens", "tokenizer.name", "num_passes", "author", "passage_length"]
)
def test_common_ml_hyperparameters_are_not_redacted(key: str) -> None:
    """Words that merely contain 'token', 'pass' or 'auth': what LLM runs are compared by."""
    assert wire({key: 512}) == {key: ("integer", 512)}


def test_redacted_values_never_reach_the_spool(
    start_run: Callable[..., runstream.Run],
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    runstream_dir: Settings,
) -> None:
    run = start_run(config={"db": {"password": "hunter2-in-config"}, "lr": 0.1})
    assert run.config["db.password"] == "hunter2-in-config"  # the user's own copy is untouched
    run.finish()
    spool_bytes = b"".join(path.read_bytes() for path in runstream_dir.spool_dir.glob("*.seg"))
    assert b"hunter2-in-config" not in spool_bytes
    started = read_envelopes(runstream_dir)[0].run_started
    assert typed(list(started.params)) == {
        "db.password": ("text", REDACTED),
        "lr": ("number", 0.1),
        "runstream.redacted": ("integer", 1),  # how many values were redacted
    }


def test_a_config_too_large_for_one_envelope_follows_run_started_in_more_envelopes(
    start_run: Callable[..., runstream.Run],
    read_envelopes: Callable[[Settings], list[pb.Envelope]],
    runstream_dir: Settings,
) -> None:
    """A config of thousands of keys and long values is valid input: it must neither be cut
    nor make an envelope the processors refuse (which would lose the whole run)."""
    config = {f"text{i}": f"{i}:" + "x" * 60_000 for i in range(40)}
    config |= {f"grid.point{i}": i for i in range(5_000)}
    start_run(config=config).finish()

    envelopes = read_envelopes(runstream_dir)
    sizes = [envelope.ByteSize() for envelope in envelopes]
    assert max(sizes) <= MAX_ENVELOPE_BYTES, sizes
    kinds = [envelope.WhichOneof("payload") for envelope in envelopes]
    continued = kinds.count("run_started_continued")
    assert kinds[: 1 + continued] == ["run_started"] + ["run_started_continued"] * continued
    assert continued >= 2
    params = list(envelopes[0].run_started.params)
    for envelope in envelopes[1 : 1 + continued]:
        params.extend(envelope.run_started_continued.params)
    assert typed(params) == {
        key: ("text", value) if isinstance(value, str) else ("integer", value)
        for key, value in config.items()
    }
