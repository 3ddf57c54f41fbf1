"""Hugging Face Transformers: ``Trainer(..., callbacks=[RunstreamCallback("nlp")])``.

From the main process only (``state.is_world_process_zero``) the callback records:

* the ``TrainingArguments`` (config ``args.*``) and the model's config (``model.*``);
* each ``on_log``: ``eval_*``/``test_*``/``predict_*`` keys with that split, ``epoch``
  without one, the rest (``loss``, ``grad_norm``, ``learning_rate``) as split ``train``,
  at ``state.global_step``; the end-of-training figures (``train_runtime``,
  ``train_loss``, ``total_flos``, ...) go to the summary instead;
* each checkpoint the Trainer saves, its files as artifacts of kind ``checkpoint``.

A run already active is used and left to its owner; otherwise the callback starts one at
``on_train_begin`` (or at the first log) that stays open for a later ``evaluate`` until
:meth:`RunstreamCallback.finish` or interpreter exit.

``report_to="runstream"`` is not offered: Transformers (5.x) knows its reporters from a
fixed table in ``transformers.integrations.integration_utils`` with no way to register
one from outside short of patching that module, so pass the callback instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

import runstream

from ..run import Run
from ._config import plain_config

_SPLIT_PREFIXES = ("eval", "test", "predict")
SUMMARY_KEYS = frozenset(
    {
        "train_runtime",
        "train_samples_per_second",
        "train_steps_per_second",
        "train_loss",
        "total_flos",
    }
)
"""What the Trainer logs once, at the end of training: summary entries, not curves."""


def split_key(name: str) -> tuple[str, str]:
    """``(split, key)`` of a Trainer log entry: ``eval_loss`` → ``("eval", "loss")``."""
    for prefix in _SPLIT_PREFIXES:
        if name.startswith(prefix + "_") and len(name) > len(prefix) + 1:
            return prefix, name[len(prefix) + 1 :]
    if name == "epoch":
        return "", name
    return "train", name


class RunstreamCallback(TrainerCallback):
    """The Trainer's callback for runstream; see the module's docstring."""

    def __init__(
        self,
        project: str,
        name: str | None = None,
        *,
        log_checkpoints: bool = True,
        **init_kwargs: Any,
    ) -> None:
        """``init_kwargs`` go to ``runstream.init`` (``group``, ``tags``, ``dir``, ...)."""
        self.project = project
        self.name = name
        self.log_checkpoints = log_checkpoints
        self._init_kwargs = init_kwargs
        self.run: Run | None = None
        self._owned = False

    def _run(self, args: TrainingArguments, model: Any = None) -> Run:
        if self.run is None:
            active = runstream.active_run()
            if active is not None:
                self.run = active
            else:
                named = args.run_name if args.run_name != args.output_dir else None
                self.run = runstream.init(
                    self.project, self.name or named or None, **self._init_kwargs
                )
                self._owned = True
            config: dict[str, Any] = {"args": plain_config(args.to_sanitized_dict())}
            model_config = getattr(model, "config", None)
            if model_config is not None and hasattr(model_config, "to_diff_dict"):
                config["model"] = plain_config(model_config.to_diff_dict())
            self.run.add_config(config)
        return self.run

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if state.is_world_process_zero:
            self._run(args, model)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        run = self._run(args, model)
        by_split: dict[str, dict[str, Any]] = {}
        for entry, value in logs.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue  # the Trainer also logs texts (e.g. a warning); not metrics
            if entry in SUMMARY_KEYS:
                run.summary[entry] = value
                continue
            split, key = split_key(entry)
            by_split.setdefault(split, {})[key] = value
        for split, values in by_split.items():
            run.log(values, step=state.global_step, split=split)

    def on_save(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not self.log_checkpoints:
            return
        folder = Path(args.output_dir or ".") / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        run = self._run(args, kwargs.get("model"))
        metadata = {"checkpoint": folder.name, "step": str(state.global_step)}
        if state.best_model_checkpoint:
            best = os.path.basename(state.best_model_checkpoint) == folder.name
            metadata["best"] = str(best).lower()
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
                run.log_artifact(path, name=name, kind="checkpoint", metadata=metadata)

    def finish(self) -> None:
        """End the run the callback started (a run it adopted is left to its owner)."""
        if self._owned and self.run is not None:
            self.run.finish()
