"""PyTorch Lightning's Trainer with RunstreamLogger: a tiny model built here, the real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import runstream
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from runstream.integrations.lightning import RunstreamLogger, split_key
from runstream.settings import Settings
from support.runs import store
from torch.utils.data import DataLoader, TensorDataset

QUIET: dict[str, Any] = {"capture_code": False, "capture_env": False, "system_interval": None}


class TinyRegression(pl.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 4, optimizer: str = "sgd") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def training_step(self, batch: Any, index: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: Any, index: int) -> None:
        loss = self._loss(batch)
        self.log("val_loss", loss)
        self.log("val/mae", loss.sqrt())

    def test_step(self, batch: Any, index: int) -> None:
        self.log("test_loss", self._loss(batch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _data() -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=generator)
    y = x.sum(dim=1, keepdim=True)
    return DataLoader(TensorDataset(x, y), batch_size=8)


def _trainer(tmp_path: Path, logger: RunstreamLogger, **kwargs: Any) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=logger,
        default_root_dir=tmp_path,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("train_loss", ("train", "loss")),
        ("val/acc", ("val", "acc")),
        ("validation_loss_epoch", ("val", "loss_epoch")),
        ("test.f1", ("test", "f1")),
        ("epoch", ("", "epoch")),
        ("trainer/global_step", ("", "trainer/global_step")),
        ("lr-SGD", ("", "lr-SGD")),
    ],
)
def test_split_comes_from_the_usual_prefixes(name: str, expected: tuple[str, str]) -> None:
    assert split_key(name) == expected


def test_a_fit_and_test_record_hparams_split_metrics_checkpoints_and_finish(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    logger = RunstreamLogger("lit", name="tiny", group="lit-group", **QUIET)
    checkpoints = ModelCheckpoint(monitor="val_loss", save_top_k=1, save_last=True)
    trainer = _trainer(tmp_path, logger, callbacks=[checkpoints])
    model = TinyRegression(lr=0.05, hidden=5)
    trainer.fit(model, train_dataloaders=_data(), val_dataloaders=_data())
    trainer.test(model, dataloaders=_data())
    run = logger.experiment
    assert runstream.active_run() is run
    logger.finish()
    assert runstream.active_run() is None

    with store(runstream_dir) as client:
        assert client.query("SELECT name, status FROM runstream.runs").result_rows == [
            ("tiny", "finished")
        ]
        assert client.query("SELECT run_group FROM runstream.runs_started").result_rows == [
            ("lit-group",)
        ]
        params = dict(
            client.query(
                "SELECT key, if(value_type = 'text', value_text, toString(value_number)) "
                "FROM runstream.params WHERE key IN ('lr', 'hidden', 'optimizer')"
            ).result_rows
        )
        assert params == {"lr": "0.05", "hidden": "5", "optimizer": "sgd"}
        metrics = dict(
            client.query(
                "SELECT concat(split, ':', key), count() FROM runstream.metrics GROUP BY split, key"
            ).result_rows
        )
        assert metrics["train:loss"] == 8  # 4 batches x 2 epochs, logged every step
        assert metrics["val:loss"] == 2 and metrics["val:mae"] == 2
        assert metrics["test:loss"] == 1
        assert ":train_loss" not in metrics and ":val_loss" not in metrics  # split, not prefix
        saved = client.query(
            "SELECT name, kind, metadata['best'], metadata['last'], metadata['monitor'] "
            "FROM runstream.artifacts ORDER BY name"
        ).result_rows
    best = Path(checkpoints.best_model_path).name
    assert (best, "checkpoint", "true", "false", "val_loss") in saved
    assert ("last.ckpt", "checkpoint", "false", "true", "val_loss") in saved
    assert Path(checkpoints.best_model_path).parent.parent.name == "tiny"  # version: run name


def test_the_logger_uses_a_run_already_active_and_leaves_it_open(
    runstream_dir: Settings, tmp_path: Path
) -> None:
    with runstream.init("lit", name="mine", **QUIET) as run:
        logger = RunstreamLogger("lit")
        trainer = _trainer(tmp_path, logger, max_steps=2, limit_val_batches=0)
        trainer.fit(TinyRegression(), train_dataloaders=_data())
        logger.finish()
        assert logger.experiment is run and runstream.active_run() is run
    with store(runstream_dir) as client:
        rows = client.query(
            "SELECT count() FROM runstream.metrics WHERE split = 'train' AND key = 'loss'"
        ).result_rows
        assert client.query("SELECT name FROM runstream.runs").result_rows == [("mine",)]
    assert rows == [(2,)]
