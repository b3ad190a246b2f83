"""Where a job computes: the device, its threads, and the seeds that make a run repeatable."""

from __future__ import annotations

import random

import numpy as np
import torch


def resolve_device(requested: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' (or 'cuda:N') without a GPU is an error, not a silent CPU run."""
    requested = str(requested).strip().lower()
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested != "cpu" and not requested.startswith("cuda"):
        raise ValueError(f"unknown device {requested!r}; choose auto, cpu, cuda or cuda:N")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} was asked for but torch sees no CUDA GPU; use device: auto or cpu")
    return torch.device(requested)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def use_threads(n_threads: int) -> None:
    """Give torch the threads Snakemake granted the job: small CPU models gain more from parallel jobs
    than from many threads in one, and jobs must not oversubscribe the cores they were given."""
    torch.set_num_threads(max(1, int(n_threads)))
