"""The dynamo-free optimizers do what torch.optim does, and a training process never imports torch._dynamo."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from emoverify import registry
from emoverify.training import optimizers

SHAPES = [(7,), (3, 5), (2, 3, 4), (1,)]
TORCH_OPTIMIZERS = {
    "adam": lambda params, lr, weight_decay: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
    "sgd": lambda params, lr, weight_decay: torch.optim.SGD(
        params, lr=lr, momentum=optimizers.SGD_MOMENTUM, weight_decay=weight_decay
    ),
    "adam_fused": lambda params, lr, weight_decay: torch.optim.Adam(
        params, lr=lr, weight_decay=weight_decay, fused=True
    ),
}


def twin_parameters(seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    ours = [torch.randn(shape, generator=generator).requires_grad_() for shape in SHAPES]
    return ours, [p.detach().clone().requires_grad_() for p in ours]


def run_side_by_side(name: str, lr: float, weight_decay: float, steps: int = 30, scaler=None):
    """Both optimizers on the same random gradients, each parameter without one on some steps; with ``scaler``
    (a GradScaler factory) the gradients come from a scaled backward and the scaler steps each optimizer."""
    ours, theirs = twin_parameters(seed=1)
    sides = [
        (ours, optimizers.make_optimizer(name, ours, lr=lr, weight_decay=weight_decay)),
        (theirs, TORCH_OPTIMIZERS[name](theirs, lr, weight_decay)),
    ]
    scalers = [scaler(), scaler()] if scaler else [None, None]
    generator = torch.Generator().manual_seed(2)
    for step in range(steps):
        gradients = [torch.randn(shape, generator=generator) for shape in SHAPES]
        with_gradient = [index for index in range(len(SHAPES)) if (step + index) % 4 != 3]
        for (params, optimizer), side_scaler in zip(sides, scalers):
            optimizer.zero_grad(set_to_none=True)
            loss = sum((params[index] * gradients[index]).sum() for index in with_gradient)
            if side_scaler is None:
                loss.backward()
                optimizer.step()
            else:
                side_scaler.scale(loss).backward()
                side_scaler.step(optimizer)
                side_scaler.update()
    return ours, theirs


@pytest.mark.parametrize("name", ["adam", "adam_fused", "sgd"])
@pytest.mark.parametrize(("lr", "weight_decay"), [(0.003, 0.0), (0.05, 5e-4), (0.2, 0.01)])
def test_each_optimizer_matches_torch_optim(name, lr, weight_decay):
    ours, theirs = run_side_by_side(name, lr, weight_decay)
    for mine, reference, start in zip(ours, theirs, twin_parameters(seed=1)[0]):
        torch.testing.assert_close(mine, reference, atol=1e-6, rtol=1e-5)
        assert not torch.allclose(mine, start)


@pytest.mark.parametrize(("lr", "weight_decay"), [(0.003, 0.0), (0.05, 5e-4)])
def test_adam_fused_is_torch_s_fused_adam_to_the_bit_and_differs_from_adam_only_in_rounding(lr, weight_decay):
    """The same kernel as torch.optim.Adam(fused=True): equal bits, each parameter missing its gradient on some
    steps; against ``adam`` (eight elementwise operations) the same algorithm to float rounding."""
    fused, reference = run_side_by_side("adam_fused", lr, weight_decay)
    plain, _ = run_side_by_side("adam", lr, weight_decay)
    for mine, theirs, unfused in zip(fused, reference, plain):
        assert torch.equal(mine, theirs)
        torch.testing.assert_close(mine, unfused, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_gradscaler_drives_them_as_it_drives_torch_optim(name):
    """GradScaler's enabled path: it unscales the gradients of ``param_groups`` and then calls ``step()``."""

    def scaler():
        return torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=5, enabled=True)

    ours, theirs = run_side_by_side(name, lr=0.01, weight_decay=1e-3, steps=12, scaler=scaler)
    for mine, reference in zip(ours, theirs):
        torch.testing.assert_close(mine, reference, atol=1e-6, rtol=1e-5)


def test_adam_corrects_the_bias_of_its_first_step():
    """Adam's first step moves every coordinate by lr (a bias-corrected m / sqrt(v) is the gradient's sign)."""
    param = torch.zeros(4, requires_grad=True)
    optimizer = optimizers.make_optimizer("adam", [param], lr=0.1, weight_decay=0.0)
    param.grad = torch.tensor([2.0, -3.0, 0.5, -1e-3])
    optimizer.step()
    torch.testing.assert_close(param.detach(), torch.tensor([-0.1, 0.1, -0.1, 0.1]), atol=1e-6, rtol=1e-4)


# a gradient of wd * param = 0.5: Adam's first step is lr against its sign (decoupled decay would give 0.95, none
# 1.0); SGD's is lr * 0.5
@pytest.mark.parametrize(("name", "expected"), [("adam", 0.9), ("sgd", 0.95)])
def test_weight_decay_adds_an_l2_gradient(name, expected):
    """With a zero gradient only the decay moves the parameter."""
    param = torch.ones(1, requires_grad=True)
    optimizer = optimizers.make_optimizer(name, [param], lr=0.1, weight_decay=0.5)
    param.grad = torch.zeros(1)
    optimizer.step()
    torch.testing.assert_close(param.detach(), torch.tensor([expected]))


def test_zero_grad_and_the_names_the_config_accepts():
    param = torch.ones(2, requires_grad=True)
    optimizer = optimizers.make_optimizer("sgd", [param], lr=0.1, weight_decay=0.0)
    param.grad = torch.ones(2)
    optimizer.zero_grad(set_to_none=False)
    assert torch.equal(param.grad, torch.zeros(2))
    optimizer.zero_grad()
    assert param.grad is None
    assert set(optimizers.OPTIMIZERS) == set(registry.OPTIMIZERS)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        optimizers.make_optimizer("lbfgs", [param], lr=0.1, weight_decay=0.0)


TRAINING_JOB = """
import io, sys, tempfile
from pathlib import Path

import torch
from demo_runs import FBV, TRAINING, make_demo_sets

from emoverify.layout import Run
from emoverify.model.device import job_device, use_threads
from emoverify.scriptlog import logged  # noqa: F401  (what workflow/scripts/train.py imports)
from emoverify.splits import fold_data  # noqa: F401
from emoverify.training import jobs, optimizers
from emoverify.training.fold import prepare_fold
from emoverify.training.settings import TrainingSettings


class Folders:
    def mktemp(self, name):
        return Path(tempfile.mkdtemp(prefix=name))


folder, faces = Folders().mktemp("job"), make_demo_sets(Folders())
use_threads(1)
for optimizer in ("adam", "adam_fused", "sgd"):
    jobs.train_runs(
        prepare_fold(faces["train"], faces["val"]),
        [Run("tl_pdp_fbv", "manual", 0, 0)],
        jobs.run_outputs(str(folder / f"model_{optimizer}.pt"), str(folder / f"history_{optimizer}.csv")),
        method=FBV,
        settings=TrainingSettings.from_recipe(
            {**TRAINING, "optimizer": optimizer, "weight_decay": 1e-4, "batches_per_epoch": 2}
        ),
        job=jobs.JobSettings(1, job_device("cpu"), io.StringIO()),
    )
# mixed precision's scaler (CUDA only in the loop) on the CPU, with the optimizer it drives
param = torch.ones(3, requires_grad=True)
optimizer = optimizers.make_optimizer("adam", [param], lr=0.1, weight_decay=0.0)
scaler = torch.amp.GradScaler("cpu", enabled=True)
scaler.scale((param**2).sum()).backward()
scaler.step(optimizer)
scaler.update()
print("dynamo imported:", "torch._dynamo" in sys.modules)
"""


def test_a_training_job_never_imports_dynamo():
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(TRAINING_JOB)],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": f"{root / 'workflow'}{os.pathsep}{root / 'tests'}"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "dynamo imported: False" in result.stdout
