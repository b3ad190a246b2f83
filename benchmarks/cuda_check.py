"""CUDA against CPU: does training tl_pdp_fbv on the GPU (with mixed precision) give the CPU's losses?

Usage (from the repository root, on a machine with an NVIDIA GPU):
    PYTHONPATH=workflow .venv/bin/python benchmarks/cuda_check.py [--method tl_pdp_fbv] [--epochs 3]

Two checks on demo drawings (12 people, every expression twice), the default config's model:

1. Same weights, same batch: the objective's value and every term of it on the CPU (float32), on CUDA in
   float32 and on CUDA under autocast (float16), and the relative difference of each to the CPU.
2. ``train.train_model`` itself (P x K batches, GradScaler, early stopping) for a few epochs on the CPU and
   on CUDA with ``mixed_precision`` on: the loss and validation AUC per epoch and the seconds per epoch.
   Losses drift apart as training goes (float16 rounding, non-deterministic CUDA kernels); the first
   epoch should agree to a few percent and both runs should lower the loss.

Without CUDA it says so and exits with status 2 (nothing to compare).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch  # before anything that might import tensorflow
import yaml

from bench_training import ROOT, default_training, demo_batches, demo_faces
from emoverify.model.device import seed_everything
from emoverify.model.networks import model_from_recipe
from emoverify.splits.fold_data import FaceSet
from emoverify.training import loop as train


def method_spec(name: str) -> dict:
    methods = yaml.safe_load((ROOT / "config.yaml").read_text())["methods"]
    if name not in methods:
        sys.exit(f"unknown method {name!r}; config.yaml defines {sorted(methods)}")
    return methods[name]


def objective_terms(method: dict, training: dict, device: torch.device, mixed: bool) -> dict[str, float]:
    """Every term of the objective on the first demo batch, from the same initial weights."""
    batches = demo_batches(training, n_batches=1)
    seed_everything(0)
    model = model_from_recipe(training, method["geometry"]).to(device).train()
    objective = train.build_objective(method, training, batches.faces).to(device)
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=mixed):
        embedding = model(batches.inputs[0].to(device))
    _, terms = objective(embedding.float(), batches.ids[0].to(device), batches.emo[0].to(device))
    return {name: float(value) for name, value in terms.items()}


def split_people(faces: FaceSet, n_val: int) -> tuple[FaceSet, FaceSet]:
    in_val = np.isin(faces.identities, sorted(set(faces.identities))[:n_val])
    return faces.subset(~in_val), faces.subset(in_val)


def training_history(method: dict, training: dict, epochs: int, device: torch.device):
    fit, val = split_people(demo_faces(training["input_size"], seed=0), n_val=3)
    started = time.perf_counter()
    result = train.train_model(
        fit,
        val,
        method=method,
        training={**training, "patience": epochs},
        epochs=epochs,
        seed=0,
        device=device,
        progress=False,
    )
    return result.history, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="tl_pdp_fbv")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches-per-epoch", type=int, default=8)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to compare (run this on a GPU machine)")
        return 2
    method = method_spec(args.method)
    training = {**default_training(), "batches_per_epoch": args.batches_per_epoch, "mixed_precision": True}
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    print(
        f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}; "
        f"method {args.method}: {method}"
    )

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
