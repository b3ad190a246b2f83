"""The training loop's two optimizers, Adam and SGD with momentum, on plain tensors.

Why not ``torch.optim``: its ``Optimizer`` wraps ``add_param_group``, ``zero_grad`` and every ``step`` in
``torch._disable_dynamo`` / ``_use_grad_for_differentiable``, which import ``torch._dynamo`` on first use, a
start-up cost paid by every Snakemake training job, since each is a fresh process (docs/performance.md).
These classes do the arithmetic of ``torch.optim``'s single-tensor (CPU) path, so they follow torch.optim to
float rounding (tested), and never import dynamo.

They duck-type what the loop and ``torch.amp.GradScaler`` use: ``param_groups`` (GradScaler unscales the
gradients of every group's params), ``state``, ``zero_grad`` and ``step``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

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
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(param, alpha=group["weight_decay"])  # L2 penalty, not decoupled (AdamW)
                self.update(param, grad, group["lr"], self.state.setdefault(param, {}))

    def update(self, param: torch.Tensor, grad: torch.Tensor, lr: float, state: dict) -> None:
        raise NotImplementedError


class Adam(Optimizer):
    """torch.optim.Adam with betas (0.9, 0.999), eps 1e-8, L2 weight decay, no amsgrad."""

    def update(self, param: torch.Tensor, grad: torch.Tensor, lr: float, state: dict) -> None:
        beta1, beta2 = ADAM_BETAS
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(param), exp_avg_sq=torch.zeros_like(param))
        state["step"] += 1
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = lr / (1 - beta1 ** state["step"])
        denom = (state["exp_avg_sq"].sqrt() / (1 - beta2 ** state["step"]) ** 0.5).add_(ADAM_EPS)
        param.addcdiv_(state["exp_avg"], denom, value=-step_size)


class SGD(Optimizer):
    """torch.optim.SGD with momentum 0.9, no dampening, no Nesterov: the first step's buffer is the gradient."""

    def update(self, param: torch.Tensor, grad: torch.Tensor, lr: float, state: dict) -> None:
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = grad.detach().clone()
        else:
            state["momentum_buffer"].mul_(SGD_MOMENTUM).add_(grad)
        param.add_(state["momentum_buffer"], alpha=-lr)


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def make_optimizer(name: str, parameters: Iterable[torch.Tensor], lr: float, weight_decay: float) -> Optimizer:
    """The optimizer the config names (``training.optimizer``: adam or sgd)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](parameters, lr=lr, weight_decay=weight_decay)
