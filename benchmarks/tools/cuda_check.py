"""CUDA against CPU: does training tl_pdp_fbv on the GPU (with mixed precision) give the CPU's losses?

Usage (from the repository root, on a machine with an NVIDIA GPU):
    .venv/bin/python -m benchmarks.tools.cuda_check [--method tl_pdp_fbv] [--epochs 3] [--json PATH | --record]

Two checks on demo drawings (12 people, every expression twice), the default config's model:

1. Same weights, same batch: the objective's value and every term of it on the CPU (float32), on CUDA in
   float32 and on CUDA under autocast (float16), and the relative difference of each to the CPU.
2. ``loop.train_model`` itself (P x K batches, GradScaler, early stopping) for a few epochs on the CPU and
   on CUDA with ``mixed_precision`` on: the loss and validation AUC per epoch and the seconds per epoch.
   Losses drift apart as training goes (float16 rounding, non-deterministic CUDA kernels); the first
   epoch should agree to a few percent and both runs should lower the loss.

Without CUDA it says so and exits with status 2 (nothing to compare).

``--concurrent N`` instead times N trainings sharing one card, as Snakemake runs them with
``--resources gpu_slots=N``: first one training process alone, then N started together, each a short
``loop.train_model`` of ``--method`` on demo drawings (``--epochs`` x ``--batches-per-epoch``) in its own
Python process (interpreter, imports, data and CUDA context included, as a job pays them). It prints the wall
time of all N against one alone, each process's seconds (in all and in training), its peak GPU memory, and the
throughput gained (N x alone / wall of all). ``--device cpu`` runs the same timing on the CPU (one torch
thread a process) to dry-run it without a GPU, e.g. ``--concurrent 2 --device cpu --epochs 1
--batches-per-epoch 2``.

Figures (``_s``: seconds): the relative difference of every objective term and of the first epoch's loss, and
each training's time; with ``--concurrent``, the wall time alone and together, their ratio, the throughput, the
per-process median and the peak GPU memory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch  # before anything that might import tensorflow
import yaml

from benchmarks import record
from benchmarks.micro.training import default_training, demo_batches, demo_faces
from emoverify.model.device import seed_everything, use_threads
from emoverify.model.networks import model_from_recipe
from emoverify.splits.fold_data import FaceSet
from emoverify.training import loop
from emoverify.training.fold import prepare_fold
from emoverify.training.settings import Progress, TrainingSettings

WORKER_LINE = "worker result: "  # a worker's one line of JSON on stdout starts with this


def method_spec(name: str) -> dict:
    methods = yaml.safe_load((record.REPO_ROOT / "config.yaml").read_text())["methods"]
    if name not in methods:
        sys.exit(f"unknown method {name!r}; config.yaml defines {sorted(methods)}")
    return methods[name]


def objective_terms(method: dict, training: dict, device: torch.device, mixed: bool) -> dict[str, float]:
    """Every term of the objective on the first demo batch, from the same initial weights."""
    batches = demo_batches(training, n_batches=1)
    seed_everything(0)
    model = model_from_recipe(training, method["geometry"]).to(device).train()
    objective = loop.build_objective(method, TrainingSettings.from_recipe(training), batches.faces).to(device)
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=mixed):
        embedding = model(batches.inputs[0].to(device))
    _, terms = objective(embedding.float(), batches.ids[0].to(device), batches.emo[0].to(device))
    return {name: float(value) for name, value in terms.items()}


def split_people(faces: FaceSet, n_val: int) -> tuple[FaceSet, FaceSet]:
    in_val = np.isin(faces.identities, sorted(set(faces.identities))[:n_val])
    return faces.subset(~in_val), faces.subset(in_val)


def training_history(method: dict, training: dict, epochs: int, device: torch.device, faces: FaceSet | None = None):
    fit, val = split_people(demo_faces(training["input_size"], seed=0) if faces is None else faces, n_val=3)
    started = time.perf_counter()
    result = loop.train_model(
        prepare_fold(fit, val),
        method=method,
        settings=TrainingSettings.from_recipe({**training, "patience": epochs}),
        epochs=epochs,
        seed=0,
        device=device,
        progress=Progress(show=False),
    )
    return result.history, time.perf_counter() - started


def worker(args) -> int:
    """One training in this process (a worker of ``--concurrent``); prints its timings as one JSON line."""
    device = torch.device(args.device)
    use_threads(1)
    method = method_spec(args.method)
    training = {**default_training(), "batches_per_epoch": args.batches_per_epoch, "mixed_precision": True}
    faces = demo_faces(training["input_size"], seed=0)
    ready = time.time()
    history, train_seconds = training_history(method, training, args.epochs, device, faces)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    result = {
        "pid": os.getpid(),
        "ready": ready,
        "finished": time.time(),
        "train_seconds": train_seconds,
        "final_loss": float(history["total"].iloc[-1]),
        "peak_memory_mb": peak / 2**20,
    }
    print(WORKER_LINE + json.dumps(result), flush=True)
    return 0


def launch(n: int, args) -> tuple[float, list[dict]]:
    """Start ``n`` worker processes together; the wall time until the last exits, and each one's result with
    its ``seconds`` from the launch to its exit."""
    command = [sys.executable, "-m", __spec__.name, "--worker", "--device", args.device]
    command += ["--method", args.method, "--epochs", str(args.epochs)]
    command += ["--batches-per-epoch", str(args.batches_per_epoch)]
    with tempfile.TemporaryDirectory(prefix="cuda_check_") as scratch:
        logs = [(Path(scratch) / f"{i}.out", Path(scratch) / f"{i}.err") for i in range(n)]
        launched = time.time()
        processes = []
        for out, err in logs:
            with open(out, "w") as stdout, open(err, "w") as stderr:
                processes.append(
                    subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True, cwd=record.REPO_ROOT)
                )
        exited: dict[int, float] = {}
        while len(exited) < n:
            for index, process in enumerate(processes):
                if index not in exited and process.poll() is not None:
                    exited[index] = time.time()
            time.sleep(0.02)
        wall = max(exited.values()) - launched
        results = []
        for index, (process, (out, err)) in enumerate(zip(processes, logs)):
            lines = [line for line in out.read_text().splitlines() if line.startswith(WORKER_LINE)]
            if process.returncode or not lines:
                raise RuntimeError(
                    f"a training worker failed (status {process.returncode}):\n{err.read_text()[-3000:]}"
                )
            result = json.loads(lines[-1][len(WORKER_LINE) :])
            results.append({**result, "launched": launched, "seconds": exited[index] - launched})
    return wall, results


def concurrency_summary(n: int, alone: tuple[float, list[dict]], together: tuple[float, list[dict]]) -> list[str]:
    """The report of ``--concurrent``: one process alone against ``n`` started together."""
    alone_wall, (single,) = alone
    wall, results = together
    lines = [
        f"one training alone: {alone_wall:.1f} s wall ({single['ready'] - single['launched']:.1f} s to ready, "
        f"{single['train_seconds']:.1f} s training, peak {single['peak_memory_mb']:.0f} MB)",
        f"{n} trainings started together: {wall:.1f} s wall = {wall / alone_wall:.2f} x one alone; "
        f"throughput {n * alone_wall / wall:.2f} x one at a time",
        "seconds of each process from the common launch: to ready (interpreter, imports, data), training, to exit",
        f"{'process':>8}{'to exit':>10}{'to ready':>10}{'training':>10}{'peak MB':>10}",
    ]
    for index, result in enumerate(results):
        lines.append(
            f"{index:>8}{result['seconds']:>10.1f}{result['ready'] - result['launched']:>10.1f}"
            f"{result['train_seconds']:>10.1f}{result['peak_memory_mb']:>10.0f}"
        )
    seconds = [result["seconds"] for result in results]
    lines.append(f"per process: median {statistics.median(seconds):.1f} s, max {max(seconds):.1f} s")
    return lines


def concurrency_figures(n: int, alone: tuple[float, list[dict]], together: tuple[float, list[dict]]) -> dict:
    alone_wall, (single,) = alone
    wall, results = together
    return {
        "processes": n,
        "alone_wall_s": alone_wall,
        "alone_train_s": single["train_seconds"],
        "together_wall_s": wall,
        "together_over_alone": wall / alone_wall,
        "throughput_over_one_at_a_time": n * alone_wall / wall,
        "median_process_s": statistics.median(result["seconds"] for result in results),
        "peak_memory_mb": max(result["peak_memory_mb"] for result in results),
    }


def concurrent(args) -> int:
    where = torch.cuda.get_device_name(0) if args.device == "cuda" else f"the CPU ({os.cpu_count()} cores)"
    print(
        f"{args.concurrent} concurrent trainings of {args.method} on {where}: {args.epochs} epoch(s) x "
        f"{args.batches_per_epoch} batches each, one torch thread a process"
    )
    alone = launch(1, args)
    together = launch(args.concurrent, args)
    print("\n".join(concurrency_summary(args.concurrent, alone, together)))
    figures = {"device": where, "method": args.method, **concurrency_figures(args.concurrent, alone, together)}
    record.save(args, __spec__.name, figures, __doc__)
    return 0


def main() -> int:
    parser = record.parser(__doc__)
    parser.add_argument("--method", default="tl_pdp_fbv")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches-per-epoch", type=int, default=8)
    parser.add_argument("--concurrent", type=int, metavar="N", help="time N trainings started together on one card")
    parser.add_argument(
        "--device", choices=("cuda", "cpu"), default="cuda", help="--concurrent only: cpu dry-runs the timing"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.concurrent is not None and args.concurrent < 1:
        parser.error(f"--concurrent needs at least 1 process, not {args.concurrent}")
    if args.device == "cpu" and args.concurrent is None and not args.worker:
        parser.error("--device cpu is for --concurrent (the CUDA checks compare CUDA with the CPU)")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to compare (run this on a GPU machine)")
        return 2
    if args.worker:
        return worker(args)
    if args.concurrent is not None:
        return concurrent(args)
    method = method_spec(args.method)
    training = {**default_training(), "batches_per_epoch": args.batches_per_epoch, "mixed_precision": True}
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    print(
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}; "
        f"method {args.method}: {method}"
    )

    figures = {"device": torch.cuda.get_device_name(0), "method": args.method}
    print("\n1. objective on one batch, same initial weights")
    reference = objective_terms(method, training, cpu, mixed=False)
    runs = {
        "cuda float32": objective_terms(method, training, cuda, mixed=False),
        "cuda autocast float16": objective_terms(method, training, cuda, mixed=True),
    }
    print(f"{'term':<10}{'cpu':>12}" + "".join(f"{name:>24}{'rel. diff':>11}" for name in runs))
    for term, value in reference.items():
        cells = "".join(
            f"{run[term]:>24.6f}{abs(run[term] - value) / max(abs(value), 1e-12):>11.2e}" for run in runs.values()
        )
        print(f"{term:<10}{value:>12.6f}{cells}")
        for name, run in runs.items():
            figures[f"{term}/{name.replace(' ', '_')}/relative_difference"] = abs(run[term] - value) / max(
                abs(value), 1e-12
            )

    print(f"\n2. train_model, {args.epochs} epochs x {args.batches_per_epoch} batches")
    histories = {
        "cpu": training_history(method, training, args.epochs, cpu),
        "cuda (mixed precision)": training_history(method, training, args.epochs, cuda),
    }
    for name, (history, seconds) in histories.items():
        print(f"{name}: {seconds:.1f} s in all")
        print(history[["epoch", "total", "val_auc", "seconds"]].to_string(index=False))
    first_cpu = histories["cpu"][0]["total"].iloc[0]
    first_cuda = histories["cuda (mixed precision)"][0]["total"].iloc[0]
    print(
        f"\nfirst-epoch loss: cpu {first_cpu:.5f}, cuda {first_cuda:.5f}, "
        f"relative difference {abs(first_cuda - first_cpu) / abs(first_cpu):.2%}"
    )
    figures.update(
        {
            "first_epoch_loss/cpu": first_cpu,
            "first_epoch_loss/cuda_mixed": first_cuda,
            "first_epoch_loss/relative_difference": abs(first_cuda - first_cpu) / abs(first_cpu),
            "cpu/train_s": histories["cpu"][1],
            "cuda_mixed/train_s": histories["cuda (mixed precision)"][1],
        }
    )
    record.save(args, __spec__.name, figures, __doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
