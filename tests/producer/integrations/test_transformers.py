"""Hugging Face's Trainer with RunstreamCallback: a tiny BERT built from a config (no
download, offline), synthetic token data, the real store."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from pathlib import Path
from typing import Any

import pytest
import runstream
import torch
from runstream.integrations.transformers import RunstreamCallback, split_key
from runstream.settings import Settings
from support.runs import store
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

QUIET: dict[str, Any] = {"capture_code": False, "capture_env": False, "system_interval": None}


class Tokens(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """16 sequences of 8 tokens from a vocabulary of 20; the label: is token 3 in it."""

    def __init__(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, 20, (16, 8), generator=generator)
        self.labels = (self.ids == 3).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "input_ids": self.ids[index],
            "attention_mask": torch.ones(8, dtype=torch.long),
            "labels": self.labels[index],
        }


def _tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=20,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("eval_loss", ("eval", "loss")),
        ("test_accuracy", ("test", "accuracy")),
        ("loss", ("train", "loss")),
        ("learning_rate", ("train", "learning_rate")),
        ("epoch", ("", "epoch")),
    ],
)
def test_split_comes_from_the_trainers_prefixes(name: str, expected: tuple[str, str]) -> None:
    assert split_key(name) == expected


def test_training_records_args_model_config_split_metrics_summary_and_checkpoints(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    callback = RunstreamCallback("hf", name="tiny-bert", job_type="train", **QUIET)
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=4,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        learning_rate=1e-3,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="steps",
        save_steps=4,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=_tiny_bert(),
        args=args,
        train_dataset=Tokens(0),
        eval_dataset=Tokens(1),
        callbacks=[callback],
    )
    trainer.train()
    trainer.evaluate()  # after training: the run is still open
    assert runstream.active_run() is callback.run
    callback.finish()

    with store(runstream_dir) as client:
        assert client.query("SELECT name, status FROM runstream.runs").result_rows == [
            ("tiny-bert", "finished")
        ]
        params = dict(
            client.query(
                "SELECT key, if(value_type = 'text', value_text, toString(value_number)) "
                "FROM runstream.params WHERE key IN "
                "('args.learning_rate', 'args.max_steps', 'model.hidden_size', 'model.vocab_size')"
            ).result_rows
        )
        assert params == {
            "args.learning_rate": "0.001",
            "args.max_steps": "4",
            "model.hidden_size": "16",
            "model.vocab_size": "20",
        }
        metrics = dict(
            client.query(
                "SELECT concat(split, ':', key), count() FROM runstream.metrics GROUP BY split, key"
            ).result_rows
        )
        assert metrics["train:loss"] == 4  # every step
        assert metrics["eval:loss"] == 3  # steps 2 and 4, and the evaluate() after
        assert ":epoch" in metrics and "train:epoch" not in metrics
        summary = {
            key for (key,) in client.query("SELECT key FROM runstream.run_summary").result_rows
        }
        assert {"train_runtime", "train_loss", "total_flos"} <= summary
        assert "train:train_runtime" not in metrics
        saved = {
            name: (kind, metadata)
            for name, kind, metadata in client.query(
                "SELECT name, kind, metadata FROM runstream.artifacts"
            ).result_rows
        }
    weights = saved["checkpoint-4/model.safetensors"]
    assert weights[0] == "checkpoint" and weights[1]["step"] == "4"
    assert "checkpoint-4/trainer_state.json" in saved
