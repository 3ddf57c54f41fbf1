"""PyTorch Lightning: ``Trainer(logger=RunstreamLogger("digits"))``.

The logger records, from rank zero only (Lightning's other ranks get a dummy experiment):

* the module's and datamodule's hyperparameters as the run's config;
* metrics, their split taken from the usual prefixes (``train_loss``, ``val/acc``,
  ``test.f1``: split ``train``, ``val``, ``test``; ``valid``/``validation`` read as ``val``);
* every checkpoint ``ModelCheckpoint`` saves, as an artifact of kind ``checkpoint`` (its
  monitored score and whether it is the best in the metadata);
* on request (``watch=True`` or the options of ``Run.watch``), the model's weights and
  gradients, through ``Run.watch`` where this runstream has it.

A run already active (``runstream.init`` before the Trainer) is used as it is and left
to its owner; otherwise the logger starts one on first use and it stays open across
``fit``, ``validate`` and ``test`` until :meth:`RunstreamLogger.finish`, a failed fit, or
interpreter exit. Imports ``lightning``, else ``pytorch_lightning``.
"""

from __future__ import annotations

import os
import warnings
from argparse import Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

try:
    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch.loggers import Logger
    from lightning.pytorch.utilities import rank_zero_only
except ImportError:  # only the older package names are installed
    from lightning_fabric.loggers.logger import (  # type: ignore[import-not-found,no-redef,unused-ignore]
        rank_zero_experiment,
    )
    from pytorch_lightning.loggers import (  # type: ignore[assignment,import-not-found,no-redef,unused-ignore]
        Logger,
    )
    from pytorch_lightning.utilities import (  # type: ignore[assignment,import-not-found,no-redef,unused-ignore]
        rank_zero_only,
    )

import runstream

from ..errors import TrackingWarning
from ._config import plain_config

if TYPE_CHECKING:
    from ..run import Run

SPLIT_PREFIXES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "eval": "eval",
    "predict": "predict",
}
_SEPARATORS = ("/", "_", ".")


def split_key(name: str) -> tuple[str, str]:
    """``(split, key)`` of a Lightning metric name: ``val/loss`` → ``("val", "loss")``;
    a name without a known prefix keeps split ``""``."""
    for separator in _SEPARATORS:
        head, found, rest = name.partition(separator)
        if found and rest and head.lower() in SPLIT_PREFIXES:
            return SPLIT_PREFIXES[head.lower()], rest
    return "", name


class RunstreamLogger(Logger):
    """Lightning's ``Logger`` for runstream; see the module's docstring."""

    def __init__(
        self,
        project: str,
        name: str | None = None,
        *,
        log_checkpoints: bool = True,
        watch: bool | Mapping[str, Any] = False,
        **init_kwargs: Any,
    ) -> None:
        """``init_kwargs`` go to ``runstream.init`` (``group``, ``tags``, ``dir``, ...)."""
        super().__init__()
        self._project = project
        self._name = name
        self._log_checkpoints = log_checkpoints
        self._watch = watch
        self._init_kwargs = init_kwargs
        self._run: Run | None = None
        self._owned = False
        self._logged: dict[str, float] = {}
        """Checkpoint path → modification time when logged (a path saved again is new)."""

    # -- Lightning's Logger --------------------------------------------------------

    @property
    def name(self) -> str:
        return self._project

    @property
    def version(self) -> str:
        """The run's name: checkpoints go to ``<root>/<project>/<run name>/checkpoints``."""
        if self._run is None and getattr(rank_zero_only, "rank", 0) > 0:
            return ""
        return self.experiment.name  # type: ignore[no-any-return]

    @property
    @rank_zero_experiment
    def experiment(self) -> Run:
        """The runstream run (started on first use)."""
        if self._run is None:
            active = runstream.active_run()
            if active is not None:
                self._run = active
            else:
                self._run = runstream.init(self._project, self._name, **self._init_kwargs)
                self._owned = True
        return self._run

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        if isinstance(params, Namespace):
            params = vars(params)
        self.experiment.add_config(plain_config(dict(params or {})))

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        by_split: dict[str, dict[str, float]] = {}
        for metric, value in metrics.items():
            split, key = split_key(metric)
            by_split.setdefault(split, {})[key] = value
        run = self.experiment
        for split, values in by_split.items():
            run.log(values, step=step, split=split)

    @rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Lightning's hook with the module at fit start: where ``watch`` begins."""
        if not self._watch:
            return
        run = self.experiment
        watch = getattr(run, "watch", None)
        if watch is None:
            warnings.warn(
                "runstream: watch was requested but this runstream has no Run.watch",
                TrackingWarning,
                stacklevel=2,
            )
            return
        options = dict(self._watch) if isinstance(self._watch, Mapping) else {}
        watch(model, **options)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        if not self._log_checkpoints:
            return
        run = self.experiment
        scores: dict[str, Any] = dict(getattr(checkpoint_callback, "best_k_models", {}) or {})
        best = getattr(checkpoint_callback, "best_model_path", "") or ""
        last = getattr(checkpoint_callback, "last_model_path", "") or ""
        monitor = getattr(checkpoint_callback, "monitor", None)
        for path in dict.fromkeys([*scores, best, last]):
            if not path or not os.path.isfile(path):
                continue
            modified = os.path.getmtime(path)
            if self._logged.get(path) == modified:
                continue
            self._logged[path] = modified
            metadata = {"best": str(path == best).lower(), "last": str(path == last).lower()}
            if monitor:
                metadata["monitor"] = str(monitor)
            if path in scores and scores[path] is not None:
                metadata["score"] = repr(float(scores[path]))
            name = os.path.basename(path)
            run.log_artifact(path, name=name, kind="checkpoint", metadata=metadata)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """A failed fit ends the run as ``failed``; after success it stays open for
        ``validate``/``test`` (see :meth:`finish`)."""
        if status != "success" and self._owned and self._run is not None:
            self._run.finish("failed")

    # -- runstream -----------------------------------------------------------------

    @rank_zero_only
    def finish(self) -> None:
        """End the run the logger started (a run it adopted is left to its owner)."""
        if self._owned and self._run is not None:
            self._run.finish()
