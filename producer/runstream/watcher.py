"""``run.watch(model, optimizer)``: what moves during training, logged every N optimizer steps.

Every ``every``-th step it logs, through the run's ordinary ``log()`` (split ``""``, keys
under ``watch/``):

* ``watch/lr/group{i}``: each parameter group's learning rate, as the step used it;
* ``watch/grad_norm`` and ``watch/grad_norm/{parameter}``: gradient L2 norms, taken as each
  gradient is accumulated during ``backward()`` (a post-accumulate-grad hook), so before
  ``clip_grad_norm_`` and anything else that runs between ``backward()`` and ``step()``;
* ``watch/weight_norm`` and ``watch/weight_norm/{parameter}``: after the step (weight decay
  shows here);
* ``watch/update_ratio``: ‖Δw‖ / ‖w‖ of the step, over all parameters;
* ``watch/steps_per_s``, and ``watch/samples_per_s`` / ``watch/tokens_per_s`` when told the
  batch's size (``batch_size=``, ``tokens=`` per step);
* ``watch/cuda/{allocated,reserved,peak}_bytes`` when the model is on a GPU.

The step logged is the optimizer step count (1 after the first ``step()``); without an
optimizer, the count of training-mode forward passes, and the values are taken at the next
forward. With a ``GradScaler`` the gradient norms are those of the scaled loss (the hooks
run inside ``backward()``); with gradient accumulation, of the accumulated gradient. Between
measured steps the hooks only count. torch is imported when ``watch()`` is
called, not with this module: ``import runstream`` stays light. (The module is not
``runstream/watch.py``: importing that would shadow the ``runstream.watch`` shortcut.) A
failure inside a hook is counted in the run's report and warned about once; it never stops
training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import Run

PREFIX = "watch/"


class Watch:
    """The hooks of one ``run.watch()``; :meth:`remove` takes them off (``finish()`` does)."""

    def __init__(
        self,
        run: Run,
        model: Any,
        optimizer: Any = None,
        *,
        every: int = 100,
        batch_size: int | None = None,
        tokens: int | None = None,
        per_layer: bool = True,
        update_ratio: bool = True,
    ) -> None:
        import torch

        self._torch = torch
        self._run = run
        self._model = model
        self._optimizer = optimizer
        self.every = every
        self.batch_size = batch_size
        """Samples per step (may be changed between steps); None: no samples_per_s."""
        self.tokens = tokens
        """Tokens per step (may be changed between steps); None: no tokens_per_s."""
        self._per_layer = per_layer
        self._update_ratio = update_ratio
        self._names = {id(p): name for name, p in model.named_parameters() if p.requires_grad}
        self._params = [p for _, p in model.named_parameters() if p.requires_grad]
        self.steps = 0
        """Optimizer steps (or training forwards, without an optimizer) seen so far."""
        self._grad_norms: dict[str, Any] = {}
        self._before: list[Any] | None = None
        self._lrs: list[float] = []
        self._since = (time.perf_counter(), 0)
        self._cuda = any(p.is_cuda for p in self._params)
        self._handles: list[Any] = [
            p.register_post_accumulate_grad_hook(self._on_grad) for p in self._params
        ]
        if optimizer is not None:
            self._handles.append(optimizer.register_step_pre_hook(self._before_step))
            self._handles.append(optimizer.register_step_post_hook(self._after_step))
        else:
            self._handles.append(model.register_forward_pre_hook(self._on_forward))

    @property
    def active(self) -> bool:
        return bool(self._handles)

    def remove(self) -> None:
        """Take every hook off; the model and optimizer are as before ``watch()``."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    # -- hooks ---------------------------------------------------------------------

    def _measuring(self) -> bool:
        """Whether the step being computed now is one that gets logged (without an optimizer
        the forward pass already counted it)."""
        ahead = 1 if self._optimizer is not None else 0
        return (self.steps + ahead) % self.every == 0

    def _on_grad(self, parameter: Any) -> None:
        if not self._measuring() or parameter.grad is None:
            return
        self._guarded(self._grad_norm, parameter)

    def _grad_norm(self, parameter: Any) -> None:
        norm = self._torch.linalg.vector_norm(parameter.grad.detach(), dtype=self._torch.float32)
        self._grad_norms[self._names[id(parameter)]] = norm

    def _before_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._measuring():
            self._guarded(self._remember, optimizer)

    def _remember(self, optimizer: Any) -> None:
        self._lrs = [float(group["lr"]) for group in optimizer.param_groups]
        if self._update_ratio:
            with self._torch.no_grad():
                self._before = [p.detach().clone() for p in self._params]

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.steps += 1
        if self.steps % self.every == 0:
            self._guarded(self._emit)

    def _on_forward(self, module: Any, args: Any) -> None:
        if not (module.training and self._torch.is_grad_enabled()):
            return
        if self._grad_norms:  # gathered during the last step's backward()
            self._guarded(self._emit)
        self.steps += 1

    # -- the values ----------------------------------------------------------------

    def _emit(self) -> None:
        torch = self._torch
        values: dict[str, float] = {}
        for index, lr in enumerate(self._lrs):
            values[f"{PREFIX}lr/group{index}"] = lr
        with torch.no_grad():
            tensors: dict[str, Any] = {}
            if self._grad_norms:
                grads = self._grad_norms
                tensors[f"{PREFIX}grad_norm"] = torch.linalg.vector_norm(
                    torch.stack(list(grads.values()))
                )
                if self._per_layer:
                    tensors.update((f"{PREFIX}grad_norm/{n}", v) for n, v in grads.items())
            weights = {
                self._names[id(p)]: torch.linalg.vector_norm(p.detach(), dtype=torch.float32)
                for p in self._params
            }
            weight_norm = torch.linalg.vector_norm(torch.stack(list(weights.values())))
            tensors[f"{PREFIX}weight_norm"] = weight_norm
            if self._per_layer:
                tensors.update((f"{PREFIX}weight_norm/{n}", v) for n, v in weights.items())
            if self._before is not None:
                deltas = [
                    torch.linalg.vector_norm(p.detach() - old, dtype=torch.float32)
                    for p, old in zip(self._params, self._before, strict=True)
                ]
                update = torch.linalg.vector_norm(torch.stack(deltas))
                tensors[f"{PREFIX}update_ratio"] = update / weight_norm.clamp_min(1e-12)
            # one device-to-host copy for every tensor value
            numbers = torch.stack([t.float().reshape(()).cpu() for t in tensors.values()])
            values.update(zip(tensors, numbers.tolist(), strict=True))
        values.update(self._throughput())
        if self._cuda:
            device = self._params[0].device
            values[f"{PREFIX}cuda/allocated_bytes"] = float(torch.cuda.memory_allocated(device))
            values[f"{PREFIX}cuda/reserved_bytes"] = float(torch.cuda.memory_reserved(device))
            values[f"{PREFIX}cuda/peak_bytes"] = float(torch.cuda.max_memory_allocated(device))
        self._grad_norms = {}
        self._before = None
        self._lrs = []
        if self._run.finished:
            self.remove()
            return
        self._run._log_beside(values, self.steps)

    def _throughput(self) -> dict[str, float]:
        now, steps = time.perf_counter(), self.steps
        began, before = self._since
        self._since = (now, steps)
        elapsed = now - began
        if elapsed <= 0 or steps <= before:
            return {}
        per_s = (steps - before) / elapsed
        found = {f"{PREFIX}steps_per_s": per_s}
        if self.batch_size is not None:
            found[f"{PREFIX}samples_per_s"] = per_s * self.batch_size
        if self.tokens is not None:
            found[f"{PREFIX}tokens_per_s"] = per_s * self.tokens
        return {key: value for key, value in found.items() if math.isfinite(value)}

    def _guarded(self, function: Callable[..., None], *args: Any) -> None:
        """Run a hook's work; a failure is counted and warned about once, never raised."""
        try:
            function(*args)
        except Exception as exc:
            if self._run.strict:
                raise
            self._run._count(
                f"watch: {type(exc).__name__}", 1, f"runstream: watch() failed in a hook: {exc}"
            )
