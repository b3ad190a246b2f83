"""CUDA against CPU for the full fine-tune of dlib's ResNet: does mixed precision on the GPU give the CPU's losses?

Usage (from the repository root, on a machine with an NVIDIA GPU):
    .venv/bin/python -m benchmarks.tools.cuda_finetune_check [--steps 6] [--json PATH | --record]

From the same weights (``DlibResNet.from_dat()``) and the same batches (32 seeded colour and noise chips a
step, 8 people x 4 images), a few training steps of the ``all`` fine-tune (the whole network; batch-all
triplet loss, margin 0.2; Adam, learning rate 1e-4) run twice:

- on the CPU in float32;
- on CUDA under ``torch.autocast`` (float16) with a ``GradScaler``, as the training loop's ``mixed_precision``.

It prints each step's loss on both, their relative difference, and the seconds per step of each (CUDA
synchronised; the first step, which pays cuDNN's set-up, is reported apart), and the peak GPU memory. The first
step's losses should agree to a fraction of a percent (float16 rounding of the same forward pass); later ones
drift as the weights do, and a step the scaler skips (inf or NaN gradients: it then lowers its scale) is
flagged. Without CUDA it says so and exits with status 2 (nothing to compare). ``--cpu-only`` runs the CPU half
alone, to dry-run the script on a machine without a card.

Figures (``_s``: seconds): ``step<i>/cpu_loss``, ``step<i>/cuda_loss``, ``step<i>/relative_difference``,
``cpu/step_s`` and ``cuda/step_s`` (medians after the first step), ``cuda/first_step_s``,
``cuda/skipped_steps``, ``cuda/peak_memory_mib``, ``cpu_over_cuda``.
"""

from __future__ import annotations

import copy
import statistics
import sys
import time

import torch

from benchmarks import record
from benchmarks.micro.finetune import BATCH, LEARNING_RATE, as_chips, identities, noise_chips
from emoverify.losses.primary.triplet import triplet
from emoverify.model.dlib_resnet import DlibResNet
from emoverify.model.embedding import to_model_input
from emoverify.training import optimizers

MARGIN = 0.2


def batches(steps: int, seed: int = 0) -> list[torch.Tensor]:
    """Model inputs of ``steps`` batches of seeded colour and noise chips."""
    return [to_model_input(as_chips(noise_chips(BATCH, seed=seed + step))) for step in range(steps)]


def train_steps(model: DlibResNet, inputs: list[torch.Tensor], device: torch.device, mixed: bool) -> dict:
    """The ``all`` fine-tune's steps on ``device``; each step's loss and seconds, skipped steps, peak memory."""
    model = copy.deepcopy(model).to(device).train()
    model.freeze_below("all")
    optimizer = optimizers.make_optimizer("adam", model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    scaler = torch.amp.GradScaler(device.type, enabled=mixed)
    ids = identities().to(device)
    losses, seconds, skipped = [], [], 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for batch in inputs:
        started = time.perf_counter()
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=mixed):
            embedding = model(batch.to(device))
        loss = triplet(embedding.float(), ids, margin=MARGIN, mining="all")
        optimizer.zero_grad(set_to_none=True)
        scale = scaler.get_scale() if mixed else 1.0
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        skipped += int(mixed and scaler.get_scale() < scale)  # the scaler lowers its scale when it skips a step
        losses.append(float(loss.detach()))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"losses": losses, "seconds": seconds, "skipped": skipped, "peak_memory_mib": peak}


def later_median(seconds: list[float]) -> float:
    """The median seconds per step after the first (which pays set-up), or the first when there is one."""
    return statistics.median(seconds[1:] if len(seconds) > 1 else seconds)


def cpu_report(cpu: dict) -> tuple[list[str], dict]:
    lines = [f"{'step':>4}{'cpu loss':>12}{'cpu s':>8}"]
    figures = {}
    for step, (loss, seconds) in enumerate(zip(cpu["losses"], cpu["seconds"])):
        lines.append(f"{step:>4}{loss:>12.6f}{seconds:>8.2f}")
        figures[f"step{step}/cpu_loss"] = loss
    figures["cpu/step_s"] = later_median(cpu["seconds"])
    lines.append(f"cpu: {figures['cpu/step_s']:.2f} s per step (median after the first)")
    return lines, figures


def comparison_report(cpu: dict, cuda: dict) -> tuple[list[str], dict]:
    lines = [f"{'step':>4}{'cpu loss':>12}{'cuda loss':>12}{'rel. diff':>11}{'cpu s':>8}{'cuda s':>8}"]
    figures = {}
    for step, (cpu_loss, cuda_loss) in enumerate(zip(cpu["losses"], cuda["losses"])):
        difference = abs(cuda_loss - cpu_loss) / max(abs(cpu_loss), 1e-12)
        lines.append(
            f"{step:>4}{cpu_loss:>12.6f}{cuda_loss:>12.6f}{difference:>11.2e}"
            f"{cpu['seconds'][step]:>8.2f}{cuda['seconds'][step]:>8.3f}"
        )
        figures.update(
            {
                f"step{step}/cpu_loss": cpu_loss,
                f"step{step}/cuda_loss": cuda_loss,
                f"step{step}/relative_difference": difference,
            }
        )
    figures.update(
        {
            "cpu/step_s": later_median(cpu["seconds"]),
            "cuda/step_s": later_median(cuda["seconds"]),
            "cuda/first_step_s": cuda["seconds"][0],
            "cuda/skipped_steps": cuda["skipped"],
            "cuda/peak_memory_mib": cuda["peak_memory_mib"],
        }
    )
    figures["cpu_over_cuda"] = figures["cpu/step_s"] / figures["cuda/step_s"]
    lines.append(
        f"seconds per step (median after the first): cpu {figures['cpu/step_s']:.2f}, cuda "
        f"{figures['cuda/step_s']:.3f} ({figures['cpu_over_cuda']:.0f} x); cuda's first step "
        f"{figures['cuda/first_step_s']:.2f} s; steps the scaler skipped: {cuda['skipped']}; peak GPU memory "
        f"{cuda['peak_memory_mib']:.0f} MiB"
    )
    return lines, figures


def main() -> int:
    parser = record.parser(__doc__)
    parser.add_argument("--steps", type=int, default=6, help="training steps on each device")
    parser.add_argument("--cpu-only", action="store_true", help="run the CPU half alone (a dry run without a card)")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps needs at least 1 step, not {args.steps}")
    if not args.cpu_only and not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to compare (run this on a GPU machine, or --cpu-only)")
        return 2
    model = DlibResNet.from_dat()
    inputs = batches(args.steps)
    where = "the CPU only" if args.cpu_only else torch.cuda.get_device_name(0)
    print(f"torch {torch.__version__}, {where}; {args.steps} steps of the all fine-tune, batch {BATCH}")
    cpu = train_steps(model, inputs, torch.device("cpu"), mixed=False)
    if args.cpu_only:
        lines, figures = cpu_report(cpu)
    else:
        cuda = train_steps(model, inputs, torch.device("cuda"), mixed=True)
        lines, figures = comparison_report(cpu, cuda)
    print("\n".join(lines))
    record.save(args, __spec__.name, {"device": where, "steps": args.steps, **figures}, __doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
