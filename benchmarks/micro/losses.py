"""Benchmark of emoverify.losses on the CPU: vectorised losses versus their loop references.

For each batch size B (default 64, 256, 1024) at D = 128 it prints the
forward+backward time of every loss and of its plain-loop reference from
emoverify.losses.loops (loops predicted or found to exceed the budget are
skipped), the peak extra resident memory of one vectorised forward+backward,
the speed-up at B = 256, and the cost of all expression losses together
versus one forward pass of the CompactCNN backbone on a B x 3 x 64 x 64 batch.

Batches are shaped like PKBatchSampler's: B / 8 identities x 8 images,
expressions drawn from the 8 codes with 10 % unknown.

    .venv/bin/python -m benchmarks.micro.losses [--sizes 64 256 1024] [--threads 1] [--json PATH | --record]

Figures per loss and B: ``<loss>/B<B>/vectorised_ms``, ``/peak_mib`` and ``/loop_s`` (none when skipped); per B the
expression losses together against the backbone's forward pass (``all_expression_losses/B<B>/ratio_to_backbone``).
"""

from __future__ import annotations

import ctypes
import re
import signal
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks import record
from emoverify import losses
from emoverify.losses.loops import EXPRESSION_LOSSES, LOSSES  # the loop references
from emoverify.model.networks import CompactCNN

DIM = 128
K = 8
N_EXPRESSIONS = 8
TARGET_SPEEDUP = 50
SPEEDUP_AT = 256
LIBC = ctypes.CDLL("libc.so.6")


class LoopTimeout(Exception):
    """A loop reference ran past its time budget."""


# --------------------------------------------------------------------------- measuring


def resident_mib(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


def peak_extra_mib(run) -> float:
    """Peak resident memory that ``run()`` adds (Linux, glibc).

    Freed heap memory is first handed back to the system (malloc_trim), so
    allocations that reuse it show up again, then the high-water mark is reset.
    """
    LIBC.malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    before = resident_mib("VmRSS")
    run()
    return resident_mib("VmHWM") - before


def median_seconds(run, min_total: float = 0.5, max_repeats: int = 20) -> float:
    run()  # warm-up
    times: list[float] = []
    while len(times) < 3 or (sum(times) < min_total and len(times) < max_repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def seconds_within(run, budget: float) -> float:
    """Time one ``run()``; raise LoopTimeout once it passes ``budget`` seconds."""

    def stop(signum, frame):
        raise LoopTimeout

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------- the workload


def pk_batch(batch_size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    emb = F.normalize(torch.randn(batch_size, DIM, generator=g), dim=1)
    ids = torch.arange(batch_size // K).repeat_interleave(K)
    emo = torch.randint(N_EXPRESSIONS, (batch_size,), generator=g)
    emo[torch.rand(batch_size, generator=g) < 0.1] = -1
    return emb, ids, emo


def trainable_parts(n_identities: int) -> dict:
    torch.manual_seed(0)
    settings = losses.LossSettings(embedding_dim=DIM, n_identities=n_identities)  # the config's ArcFace defaults
    return {
        "head": losses.ArcFaceHead(DIM, n_identities, settings.arcface_scale, settings.arcface_margin),
        "net": losses.CompositionNet(DIM, N_EXPRESSIONS),
        "classifier": losses.ExpressionClassifier(DIM, N_EXPRESSIONS),
        "offsets": losses.basis_offsets(N_EXPRESSIONS, DIM),
    }


def forward_backward(loss, emb, *args):
    def run():
        leaf = emb.detach().requires_grad_(True)
        loss(leaf, *args).backward()

    return run


def all_expression_losses(emb, ids, emo, parts):
    return sum(LOSSES[name][0](emb, ids, emo, parts) for name in EXPRESSION_LOSSES)


def backbone_forward(batch_size: int):
    torch.manual_seed(0)
    model = CompactCNN(embedding_dim=DIM).train()
    images = torch.randn(batch_size, 3, 64, 64)
    return lambda: model(images)


# --------------------------------------------------------------------------- the report


def bench(sizes: list[int], budget: float) -> dict:
    parts = trainable_parts(max(sizes) // K)
    figures = {}
    loop_seconds: dict[tuple[str, int], float | None] = {}
    vector_seconds: dict[tuple[str, int], float] = {}
    print(f"{'loss':<20}{'B':>6}{'vectorised ms':>15}{'peak MiB':>10}{'loop s':>12}{'speed-up':>11}")
    for batch_size in sizes:
        emb, ids, emo = pk_batch(batch_size)
        ids_list, emo_list = ids.tolist(), emo.tolist()
        for name, (vectorised, loop) in LOSSES.items():
            run = forward_backward(vectorised, emb, ids, emo, parts)
            seconds = vector_seconds[name, batch_size] = median_seconds(run)
            peak = peak_extra_mib(run)
            loop_run = forward_backward(loop, emb, ids_list, emo_list, parts)
            looped = time_loop(name, batch_size, sizes, loop_seconds, budget, loop_run)
            loop_text = f"{looped:.3f}" if looped is not None else "skipped"
            speedup = f"{looped / seconds:.0f}x" if looped is not None else f">{budget / seconds:.0f}x"
            row = f"{name:<20}{batch_size:>6}{seconds * 1e3:>15.2f}{peak:>10.1f}{loop_text:>12}{speedup:>11}"
            print(row, flush=True)
            figures[f"{name}/B{batch_size}/vectorised_ms"] = seconds * 1e3
            figures[f"{name}/B{batch_size}/peak_mib"] = peak
            figures[f"{name}/B{batch_size}/loop_s"] = looped
        print(flush=True)
    print_speedups(vector_seconds, loop_seconds, budget, sizes)
    figures.update(print_backbone_comparison(sizes, parts))
    return figures


def time_loop(name, batch_size, sizes, loop_seconds, budget, run) -> float | None:
    """Loop time, or None when skipped: predicted (quadratic growth from the last size) or found over budget."""
    smaller = [b for b in sizes if b < batch_size and (name, b) in loop_seconds]
    if smaller:
        last = loop_seconds[name, smaller[-1]]
        if last is None or last * (batch_size / smaller[-1]) ** 2 > 2 * budget:
            loop_seconds[name, batch_size] = None
            return None
    try:
        loop_seconds[name, batch_size] = seconds_within(run, budget)
    except LoopTimeout:
        loop_seconds[name, batch_size] = None
    return loop_seconds[name, batch_size]


def print_speedups(vector_seconds, loop_seconds, budget, sizes) -> None:
    if SPEEDUP_AT not in sizes:
        return
    print(f"speed-up of the vectorised loss over its loop at B = {SPEEDUP_AT} (target >= {TARGET_SPEEDUP}x):")
    for name in LOSSES:
        seconds = vector_seconds[name, SPEEDUP_AT]
        looped = loop_seconds.get((name, SPEEDUP_AT))
        ratio = (looped if looped is not None else budget) / seconds
        bound = "" if looped is not None else " (lower bound: loop skipped, > budget)"
        verdict = "ok" if ratio >= TARGET_SPEEDUP else "BELOW TARGET"
        print(f"  {name:<20}{ratio:>10.0f}x  {verdict}{bound}")
    print()


def print_backbone_comparison(sizes, parts) -> dict:
    print(f"all expression losses together ({', '.join(EXPRESSION_LOSSES)}), forward+backward,")
    print("versus one forward pass of CompactCNN(embedding_dim=128) on B x 3 x 64 x 64:")
    figures = {}
    for batch_size in sizes:
        emb, ids, emo = pk_batch(batch_size)
        together = median_seconds(forward_backward(all_expression_losses, emb, ids, emo, parts))
        backbone = median_seconds(backbone_forward(batch_size), min_total=1.0, max_repeats=5)
        verdict = "ok" if together < backbone else "MORE EXPENSIVE"
        print(
            f"  B = {batch_size:>5}: losses {together * 1e3:9.2f} ms, backbone forward {backbone * 1e3:9.2f} ms, "
            f"ratio {together / backbone:.3f}  {verdict}",
            flush=True,
        )
        figures[f"all_expression_losses/B{batch_size}/together_ms"] = together * 1e3
        figures[f"all_expression_losses/B{batch_size}/ratio_to_backbone"] = together / backbone
    return figures


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024], help="batch sizes (multiples of 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: a shared machine)")
    parser.add_argument("--loop-budget", type=float, default=20.0, help="seconds a loop reference may take")
    args = parser.parse_args()
    if any(b % K for b in args.sizes):
        parser.error(f"batch sizes must be multiples of {K} (identities x {K} images)")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU thread(s), D = {DIM}, float32, K = {K} images per identity\n")
    figures = bench(sorted(args.sizes), args.loop_budget)
    record.save(args, __spec__.name, {"threads": args.threads, "dim": DIM, **figures}, __doc__)


if __name__ == "__main__":
    main()
