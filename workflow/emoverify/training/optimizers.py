"""The training loop's two optimizers, Adam and SGD with momentum, on plain tensors.

Why not ``torch.optim``: its ``Optimizer`` wraps ``add_param_group``, ``zero_grad`` and every ``step`` in
``torch._disable_dynamo`` / ``_use_grad_for_differentiable``, which import ``torch._dynamo`` on first use, a
start-up cost paid by every Snakemake training job, since each is a fresh process (docs/performance.md).
These classes do the arithmetic of ``torch.optim``'s single-tensor (CPU) path, so they follow torch.optim to
float rounding (tested), and never import dynamo. They update every parameter of a step with one ``_foreach``
call per operation (on the CPU, the same per-tensor operations in C++: a training step on a small head pays
Python per call, not per tensor).

They duck-type what the loop and ``torch.amp.GradScaler`` use: ``param_groups`` (GradScaler unscales the
gradients of every group's params), ``state``, ``zero_grad`` and ``step``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.adam import adam  # the functional API: no Optimizer, so no dynamo import

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
SGD_MOMENTUM = 0.9


class Optimizer:
    """One parameter group; ``step`` updates each parameter that has a gradient (one without is skipped,
    its state untouched, as in torch.optim)."""

    def __init__(self, parameters: Iterable[torch.Tensor], lr: float, weight_decay: float) -> None:
        params = list(parameters)
        if not params:
            raise ValueError("the optimizer got no parameters")
        self.param_groups: list[dict] = [{"params": params, "lr": lr, "weight_decay": weight_decay}]
        self.state: dict[torch.Tensor, dict] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.detach_().requires_grad_(False).zero_()

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            params = [param for param in group["params"] if param.grad is not None]
            if params:
                self.update(
                    params, [param.grad for param in params], group, [self.state.setdefault(p, {}) for p in params]
                )

    def update(self, params: list[torch.Tensor], grads: list[torch.Tensor], group: dict, states: list[dict]) -> None:
        raise NotImplementedError


def with_weight_decay(grads: list[torch.Tensor], params: list[torch.Tensor], group: dict) -> list[torch.Tensor]:
    """The gradients plus the L2 penalty's (not decoupled decay, as AdamW's)."""
    if group["weight_decay"] == 0:
        return grads
    return torch._foreach_add(grads, params, alpha=group["weight_decay"])


class Adam(Optimizer):
    """torch.optim.Adam with betas (0.9, 0.999), eps 1e-8, L2 weight decay, no amsgrad."""

    def update(self, params: list[torch.Tensor], grads: list[torch.Tensor], group: dict, states: list[dict]) -> None:
        beta1, beta2 = ADAM_BETAS
        grads, lr = with_weight_decay(grads, params, group), group["lr"]
        for state, param in zip(states, params):
            if not state:
                state.update(step=0, exp_avg=torch.zeros_like(param), exp_avg_sq=torch.zeros_like(param))
            state["step"] += 1
        # parameters updated as often share their bias corrections (all of them, unless one missed a gradient)
        for step, chosen in _by_step(states).items():
            exp_avg = [states[i]["exp_avg"] for i in chosen]
            exp_avg_sq = [states[i]["exp_avg_sq"] for i in chosen]
            step_grads = [grads[i] for i in chosen]
            torch._foreach_lerp_(exp_avg, step_grads, 1 - beta1)
            torch._foreach_mul_(exp_avg_sq, beta2)
            torch._foreach_addcmul_(exp_avg_sq, step_grads, step_grads, value=1 - beta2)
            denom = torch._foreach_sqrt(exp_avg_sq)
            torch._foreach_div_(denom, (1 - beta2**step) ** 0.5)
            torch._foreach_add_(denom, ADAM_EPS)
            torch._foreach_addcdiv_([params[i] for i in chosen], exp_avg, denom, value=-lr / (1 - beta1**step))


class AdamFused(Optimizer):
    """``adam`` in torch's fused kernel, as ``torch.optim.Adam(fused=True)``: one pass over each parameter
    instead of eight elementwise operations. The same algorithm with other float rounding (so its runs differ
    from ``adam``'s in the last bits, and from there on), and several times faster where the update is a large
    share of a step: a small head on cached descriptors."""

    def update(self, params: list[torch.Tensor], grads: list[torch.Tensor], group: dict, states: list[dict]) -> None:
        beta1, beta2 = ADAM_BETAS
        for state, param in zip(states, params):
            if not state:  # the kernel reads each parameter's step count as a float tensor on its device
                state.update(
                    step=torch.zeros((), dtype=torch.float32, device=param.device),
                    exp_avg=torch.zeros_like(param),
                    exp_avg_sq=torch.zeros_like(param),
                )
        adam(  # public and without dynamo; counts the steps and adds the weight decay itself
            params,
            grads,
            [state["exp_avg"] for state in states],
            [state["exp_avg_sq"] for state in states],
            [],
            [state["step"] for state in states],
            fused=True,
            amsgrad=False,
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            eps=ADAM_EPS,
            maximize=False,
        )


class SGD(Optimizer):
    """torch.optim.SGD with momentum 0.9, no dampening, no Nesterov: the first step's buffer is the gradient."""

    def update(self, params: list[torch.Tensor], grads: list[torch.Tensor], group: dict, states: list[dict]) -> None:
        grads = with_weight_decay(grads, params, group)
        first = ["momentum_buffer" not in state for state in states]
        later = [i for i, is_first in enumerate(first) if not is_first]
        if later:
            buffers = [states[i]["momentum_buffer"] for i in later]
            torch._foreach_mul_(buffers, SGD_MOMENTUM)
            torch._foreach_add_(buffers, [grads[i] for i in later])
        for state, grad, is_first in zip(states, grads, first):
            if is_first:
                state["momentum_buffer"] = grad.detach().clone()
        torch._foreach_add_(params, [state["momentum_buffer"] for state in states], alpha=-group["lr"])


def _by_step(states: list[dict]) -> dict[int, list[int]]:
    """The positions of ``states`` by their step count."""
    positions: dict[int, list[int]] = {}
    for position, state in enumerate(states):
        positions.setdefault(state["step"], []).append(position)
    return positions


OPTIMIZERS = {"adam": Adam, "adam_fused": AdamFused, "sgd": SGD}


def make_optimizer(name: str, parameters: Iterable[torch.Tensor], lr: float, weight_decay: float) -> Optimizer:
    """The optimizer the config names (``training.optimizer``: adam, adam_fused or sgd)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](parameters, lr=lr, weight_decay=weight_decay)
