"""Where a job computes: the device, its threads, and the seeds that make a run repeatable."""

from __future__ import annotations

import ctypes
import fcntl
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits


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
    """Give torch and numpy's BLAS the threads Snakemake granted the job: small CPU models gain more from
    parallel jobs than from many threads in one, and jobs must not oversubscribe the cores they were given.

    Snakemake already sets the BLAS libraries' thread variables for a rule's job; setting them here too makes a
    library call outside Snakemake compute as the rule does: BLAS splits a product differently with another
    thread count, and the validation scores' last bits (which can move early stopping) follow.
    """
    n_threads = max(1, int(n_threads))
    torch.set_num_threads(n_threads)
    threadpool_limits(limits=n_threads, user_api="blas")


# glibc's mallopt parameters, and what a job sets them to
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
KEPT_MEMORY = {M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 256 << 20, M_TOP_PAD: 16 << 20}


def keep_freed_memory() -> bool:
    """Let the C library keep the memory a job frees for its next allocations (glibc only; returns whether it
    applied).

    A training job allocates and frees the same arrays of a few hundred kilobytes to a few megabytes every
    step and every validation (optimizer temporaries, the validation scores and their ROC). By default glibc
    returns such memory to the system once enough of it is free, and the next step faults every page in again;
    kept, a job's memory stays near its peak, and its results do not change.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    return all(mallopt(parameter, value) == 1 for parameter, value in KEPT_MEMORY.items())


# Slot files that concurrent jobs of one machine lock while they use a GPU (flock: released when the process
# ends, however it ends), so that each new job goes to the card fewest jobs hold.
SLOTS_DIR_ENV = "EMOVERIFY_GPU_SLOTS_DIR"
_held_slots: list = []  # this process's slot files, kept open (and locked) until it exits


def default_slots_dir() -> Path:
    return Path(os.environ.get(SLOTS_DIR_ENV) or Path(tempfile.gettempdir()) / f"emoverify_gpu_slots_{os.getuid()}")


def job_device(requested: str, slots_dir: str | Path | None = None) -> torch.device:
    """The device of one training or evaluation job.

    As ``resolve_device``, and when that is CUDA without a card index and torch sees several cards, the card
    that the fewest running jobs of this machine hold (ties: the lowest index); the job holds a slot on it
    until it exits. Snakemake's ``gpu_slots`` resource bounds how many such jobs run at once (e.g.
    ``--resources gpu_slots=16`` for 8 jobs on each of 2 cards); CUDA_VISIBLE_DEVICES (as SLURM sets it)
    narrows the cards as usual.
    """
    device = resolve_device(requested)
    if device.type != "cuda" or device.index is not None or torch.cuda.device_count() < 2:
        return device
    card, handle = acquire_gpu_slot(torch.cuda.device_count(), slots_dir or default_slots_dir())
    _held_slots.append(handle)
    return torch.device("cuda", card)


def acquire_gpu_slot(n_cards: int, slots_dir: str | Path):
    """Lock a free slot on the least-held of ``n_cards`` cards; returns (card, open slot file).

    Closing the file (or the process ending) frees the slot.
    """
    slots_dir = Path(slots_dir)
    slots_dir.mkdir(parents=True, exist_ok=True)
    with open(slots_dir / "choose.lock", "w") as choosing:
        fcntl.flock(choosing, fcntl.LOCK_EX)  # one job chooses at a time, so two never count the same slots
        held = [_held_on(slots_dir, card) for card in range(n_cards)]
        card = min(range(n_cards), key=lambda index: (held[index], index))
        slot = 0
        while True:
            handle = open(slots_dir / f"gpu{card}_slot{slot}", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                slot += 1
                continue
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return card, handle


def _held_on(slots_dir: Path, card: int) -> int:
    """How many of the card's slot files are locked by running jobs."""
    held = 0
    for path in slots_dir.glob(f"gpu{card}_slot*"):
        with open(path, "a") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held += 1
            else:
                fcntl.flock(probe, fcntl.LOCK_UN)
    return held
