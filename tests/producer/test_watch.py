"""``run.watch()`` on a real tiny torch model: values checked against torch's own numbers."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import runstream
import torch
from runstream import Run
from support.spool_fixtures import Point, decode_points, spool_envelopes
from torch import nn


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(step)
    inputs = torch.randn(16, 4, generator=generator)
    return inputs, inputs.sum(dim=1, keepdim=True) * 3.0


def _watched(run: Run) -> dict[tuple[str, int], float]:
    run.finish()
    points: list[Point] = decode_points(spool_envelopes(run.settings))
    return {(p.key, p.step): p.value for p in points if p.key.startswith("watch/")}


def _close(found: float, expected: float) -> bool:
    return math.isclose(found, expected, rel_tol=1e-5, abs_tol=1e-7)


def test_grad_norm_is_taken_before_clipping_and_weights_after_the_step(
    start_run: Callable[..., Run],
) -> None:
    run = start_run()
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    run.watch(model, optimizer, every=2, batch_size=16, tokens=64)
    expected: dict[int, dict[str, float]] = {}
    for step in range(1, 7):
        inputs, targets = _batch(step)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(inputs), targets).backward()
        grads = {n: p.grad.norm().item() for n, p in model.named_parameters()}
        before = [p.detach().clone() for p in model.parameters()]
        lr = optimizer.param_groups[0]["lr"]
        clipped = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1e-3).item()
        optimizer.step()
        scheduler.step()
        weights = {n: p.norm().item() for n, p in model.named_parameters()}
        update = math.sqrt(
            sum((p - b).norm().item() ** 2 for p, b in zip(model.parameters(), before, strict=True))
        )
        total = math.sqrt(sum(w**2 for w in weights.values()))
        expected[step] = {
            "grad": clipped,  # clip_grad_norm_ returns the norm before clipping
            "weight": total,
            "ratio": update / total,
            "lr": lr,
            **{f"grad/{n}": g for n, g in grads.items()},
            **{f"weight/{n}": w for n, w in weights.items()},
        }
    found = _watched(run)
    assert {step for _, step in found} == {2, 4, 6}, "every 2nd optimizer step"
    for step in (2, 4, 6):
        want = expected[step]
        assert want["grad"] > 1.0, "the loss's gradient is far above the clipping threshold"
        assert _close(found["watch/grad_norm", step], want["grad"])
        assert _close(found["watch/weight_norm", step], want["weight"])
        assert _close(found["watch/update_ratio", step], want["ratio"])
        assert found["watch/lr/group0", step] == want["lr"]
        for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
            assert _close(found[f"watch/grad_norm/{name}", step], want[f"grad/{name}"])
            assert _close(found[f"watch/weight_norm/{name}", step], want[f"weight/{name}"])
        steps_per_s = found["watch/steps_per_s", step]
        assert steps_per_s > 0
        assert _close(found["watch/samples_per_s", step], 16 * steps_per_s)
        assert _close(found["watch/tokens_per_s", step], 64 * steps_per_s)
    assert (found["watch/lr/group0", 2], found["watch/lr/group0", 4]) == (0.05, 0.025)
    assert not any(key.startswith("watch/cuda/") for key, _ in found), "a CPU model"


def test_every_parameter_group_has_its_learning_rate(start_run: Callable[..., Run]) -> None:
    run = start_run()
    model = _model()
    optimizer = torch.optim.Adam(
        [
            {"params": model[0].parameters(), "lr": 1e-3},
            {"params": model[2].parameters(), "lr": 1e-2},
        ]
    )
    run.watch(model, optimizer, every=1, per_layer=False)
    for step in range(1, 3):
        inputs, targets = _batch(step)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(inputs), targets).backward()
        optimizer.step()
    found = _watched(run)
    assert found["watch/lr/group0", 1] == 1e-3 and found["watch/lr/group1", 2] == 1e-2
    assert not any("/0." in key or "/2." in key for key, _ in found), "per_layer=False"
    assert "samples_per_s" not in " ".join(key for key, _ in found), "no batch size given"


def test_without_an_optimizer_steps_are_training_forwards(start_run: Callable[..., Run]) -> None:
    run = start_run()
    model = _model()
    run.watch(model, every=2, update_ratio=False)
    norms = {}
    for step in range(1, 6):
        inputs, targets = _batch(step)
        model.zero_grad()
        nn.functional.mse_loss(model(inputs), targets).backward()
        norms[step] = nn.utils.get_total_norm([p.grad for p in model.parameters()]).item()
    with torch.no_grad():
        model(_batch(0)[0])  # evaluation: not a step
    found = _watched(run)
    assert _close(found["watch/grad_norm", 2], norms[2])
    assert _close(found["watch/grad_norm", 4], norms[4])
    assert ("watch/update_ratio", 2) not in found


def test_watching_leaves_the_default_step_of_log_alone(start_run: Callable[..., Run]) -> None:
    run = start_run()
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    run.watch(model, optimizer, every=2)
    for step in range(6):
        inputs, targets = _batch(step)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        run.log({"loss": loss.item()})  # no step: one past the last one the user logged
    run.finish()
    points = decode_points(spool_envelopes(run.settings))
    assert [p.step for p in points if p.key == "loss"] == [0, 1, 2, 3, 4, 5]
    assert sorted({p.step for p in points if p.key == "watch/grad_norm"}) == [2, 4, 6]


def test_finish_takes_the_hooks_off(start_run: Callable[..., Run]) -> None:
    run = start_run()
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    watch = run.watch(model, optimizer, every=1)
    assert watch is not None and watch.active
    run.finish()
    assert not watch.active
    inputs, targets = _batch(0)
    nn.functional.mse_loss(model(inputs), targets).backward()
    optimizer.step()  # no hook left to log to a finished run


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"model": "not a model"}, "watch model: must be a torch.nn.Module"),
        ({"every": 0}, "watch every: must be a positive int"),
        ({"batch_size": 2.5}, "watch batch_size: must be a positive int or None"),
    ],
)
def test_bad_arguments_are_refused_by_name(
    start_run: Callable[..., Run], arguments: dict[str, Any], problem: str
) -> None:
    arguments = {"model": _model(), **arguments}
    run = start_run()
    with pytest.warns(runstream.TrackingWarning, match=problem):
        assert run.watch(**arguments) is None
    run.finish()
    strict = start_run(strict=True, name="strict")
    with pytest.raises(runstream.InvalidValueError, match=problem):
        strict.watch(**arguments)


def test_the_shortcut_watches_the_active_run(start_run: Callable[..., Run]) -> None:
    run = start_run()
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    runstream.watch(model, optimizer, every=1)
    inputs, targets = _batch(0)
    nn.functional.mse_loss(model(inputs), targets).backward()
    optimizer.step()
    assert ("watch/grad_norm", 1) in _watched(run)


def test_import_runstream_and_a_run_do_not_import_torch() -> None:
    code = (
        "import sys, runstream; runstream.Run; "
        "print('torch' in sys.modules, hasattr(runstream, 'watch'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


@pytest.mark.gpu
def test_cuda_memory_is_logged_for_a_model_on_the_gpu(start_run: Callable[..., Run]) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU (torch.cuda.is_available() is False here)")
    run = start_run()
    model = _model().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run.watch(model, optimizer, every=1)
    inputs, targets = (tensor.cuda() for tensor in _batch(0))
    nn.functional.mse_loss(model(inputs), targets).backward()
    optimizer.step()
    allocated = torch.cuda.memory_allocated()
    found = _watched(run)
    assert 0 < found["watch/cuda/allocated_bytes", 1] <= found["watch/cuda/reserved_bytes", 1]
    assert found["watch/cuda/peak_bytes", 1] >= found["watch/cuda/allocated_bytes", 1]
    assert found["watch/cuda/allocated_bytes", 1] <= 2 * allocated + 1024**2
    assert found["watch/grad_norm", 1] > 0
