"""What a fine-tune step of dlib's ResNet in torch costs, level by level, against a head step and a bare import torch.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.micro.finetune [--repeats 5] [--steps 2] [--threads N] [--json PATH | --record]

Every step is one training step on a batch of 32 (8 people x 4 images): forward, the batch-all triplet loss
(margin 0.2), backward, the project's Adam. Timed in interleaved rounds after a warm-up (head, level0, level1,
level2, all, head, ...), so machine noise hits all of them; each round times ``--steps`` steps per variant and
the figures are the medians over rounds:

    head    emoverify's FeatureHead on the batch's 128-d dlib descriptors (the pretrained regime's step)
    level0  dlib's alevel0 and the fc layer, from cached activations (256 x 4 x 4)
    level1  alevel1 and above, from cached activations (128 x 8 x 8)
    level2  alevel2 and above, from cached activations (64 x 17 x 17)
    all     the whole network, from the 150 x 150 chips

Each step is timed twice: wall seconds, and this process's CPU seconds (``time.process_time``). On a machine
other work shares, wall time stretches with the load while CPU time stays near the work a step needs, most
cleanly with ``--threads 1`` (with more threads, a thread waiting for the others may spin and count).

Beside them: a bare ``python -c "import torch"`` in a fresh process (median of ``--repeats``, wall and CPU);
each step's ratio to the head step (median of the rounds' paired ratios, wall and CPU); forward-only
throughput of the torch network (no gradient) against dlib's own ``compute_face_descriptor`` on the same chips
(dlib runs on one core), and the largest absolute difference between their descriptors, on the batch's chips
and on colour and seeded-noise images (greyscale faces cannot show a red/blue swap); the peak memory of the
full step, measured in a fresh process as the growth of its resident set over the loaded model and batch
during two ``all`` steps (activations, gradients and Adam's state).

The chips are dlib's (five landmarks, 150 px, padding 0.25) of lfw_emotion faces where ../shared/datasets and
dlib are present, seeded noise otherwise (the cost does not depend on the pixels; the real-chip parity figure
is then null). Figures: ``<variant>/step_ms``, ``<variant>/over_head``, ``<variant>/step_cpu_ms``,
``<variant>/cpu_over_head``, ``import_torch_s``, ``import_torch_cpu_s``,
``forward/<torch|dlib>_images_per_second``, ``forward/torch_over_dlib``, ``parity/<real_chips|colour_noise>_max_abs``,
``all/peak_memory_mib``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import record
from emoverify.losses.primary.triplet import triplet
from emoverify.model.dlib_resnet import DlibResNet, activations
from emoverify.model.embedding import to_model_input
from emoverify.model.networks import FeatureHead
from emoverify.training import optimizers
from emoverify.unavailable import FeaturesUnavailableError

PEOPLE, IMAGES_PER_PERSON = 8, 4
BATCH = PEOPLE * IMAGES_PER_PERSON
LEARNING_RATE = 1e-4
LEVEL_VARIANTS = ("level0", "level1", "level2")
LFW = record.DATASETS / "lfw_emotion"
MEMORY_LINE = "peak memory: "


def identities() -> torch.Tensor:
    return torch.arange(PEOPLE).repeat_interleave(IMAGES_PER_PERSON)


def noise_chips(count: int, seed: int = 0) -> np.ndarray:
    """N x 150 x 150 x 3 uint8: solid colours, coloured blocks and per-pixel noise, seeded."""
    rng = np.random.default_rng(seed)
    chips = rng.integers(0, 256, (count, 150, 150, 3), dtype=np.uint8)
    blocks = rng.integers(0, 256, (count // 2, 15, 15, 3), dtype=np.uint8).repeat(10, axis=1).repeat(10, axis=2)
    chips[: count // 2] = blocks
    chips[0] = rng.integers(0, 256, 3, dtype=np.uint8)
    return chips


def load_dlib():
    try:
        from emoverify.features.dlib_descriptor import DlibDescriptor

        return DlibDescriptor.load()
    except FeaturesUnavailableError as error:
        print(f"dlib is not available ({error}): no dlib throughput or parity figures")
        return None


def real_chips(dlib, count: int) -> np.ndarray | None:
    """dlib's chips of ``count`` lfw_emotion faces spread over the table, or None without data or dlib."""
    if dlib is None or not (LFW / "labels.csv").is_file():
        return None
    import pandas as pd

    from emoverify.data.imageio import read_rgb

    paths = pd.read_csv(LFW / "labels.csv")["path"]
    chosen = paths.iloc[np.linspace(0, len(paths) - 1, count).astype(int)]
    return np.stack([dlib.chip(read_rgb(LFW / path)) for path in chosen])


def as_chips(images: np.ndarray) -> torch.Tensor:
    """N x H x W x 3 (dlib's layout) -> N x 3 x H x W uint8 (the pipeline's)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


class Variant:
    """A module trained on fixed inputs with the triplet loss and Adam."""

    def __init__(self, module: torch.nn.Module, inputs: torch.Tensor):
        self.module, self.inputs, self.ids = module.train(), inputs, identities()
        parameters = [parameter for parameter in module.parameters() if parameter.requires_grad]
        self.optimizer = optimizers.make_optimizer("adam", parameters, lr=LEARNING_RATE, weight_decay=0.0)

    def step(self) -> float:
        loss = triplet(self.module(self.inputs), self.ids, margin=0.2, mining="all")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def build_variants(model: DlibResNet, chips: torch.Tensor) -> dict[str, Variant]:
    with torch.no_grad():
        descriptors = model(to_model_input(chips))
    torch.manual_seed(0)
    variants = {"head": Variant(FeatureHead(descriptors.shape[1]), descriptors)}
    for level in (*LEVEL_VARIANTS, "all"):
        trained = copy.deepcopy(model)  # each variant updates its own weights
        trained.freeze_below(level)
        cached = activations(trained, chips, level)
        variants[level] = Variant(trained.trainable_part(level), cached)
    return variants


def timed_round(variant: Variant, steps: int) -> tuple[float, float]:
    """Wall and process CPU seconds per step over ``steps`` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        variant.step()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def measure(
    variants: dict[str, Variant], *, warmup: int, repeats: int, steps: int
) -> dict[str, list[tuple[float, float]]]:
    for variant in variants.values():
        timed_round(variant, warmup)
    seconds = {name: [] for name in variants}
    for _ in range(repeats):
        for name, variant in variants.items():
            seconds[name].append(timed_round(variant, steps))
    return seconds


def import_torch_seconds(repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds (user and system) of a bare ``python -c "import torch"``."""
    walls, cpus = [], []
    for _ in range(repeats):
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def torch_forward(model: DlibResNet, images: np.ndarray, repeats: int) -> tuple[float, np.ndarray]:
    """Images per second of the torch network's forward pass alone (median of ``repeats``) and its descriptors."""
    inputs = to_model_input(as_chips(images))
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            started = time.perf_counter()
            descriptors = model(inputs).numpy()
            times.append(time.perf_counter() - started)
    return len(images) / statistics.median(times), descriptors


def dlib_figures(model: DlibResNet, dlib, images: np.ndarray, ours: np.ndarray, real: bool) -> dict:
    """dlib's images per second on the same chips, and the largest differences to its descriptors."""
    if dlib is None:
        return {"forward/dlib_images_per_second": None, "parity/real_chips_max_abs": None}
    started = time.perf_counter()
    theirs = dlib.describe(list(images))
    rate = len(images) / (time.perf_counter() - started)
    noise = noise_chips(16, seed=2)
    with torch.no_grad():
        noise_ours = model(to_model_input(as_chips(noise))).numpy()
    return {
        "forward/dlib_images_per_second": rate,
        "parity/real_chips_max_abs": float(np.abs(ours - theirs).max()) if real else None,
        "parity/colour_noise_max_abs": float(np.abs(noise_ours - dlib.describe(list(noise))).max()),
        "parity/colour_noise_images": len(noise),
    }


def memory_probe() -> None:
    """In this fresh process: the growth of the resident set during two full steps, printed as one line."""
    status = Path("/proc/self/status")
    model = DlibResNet.from_dat()
    variant = Variant(model, to_model_input(as_chips(noise_chips(BATCH))))
    gc.collect()
    baseline = resident_kib(status, "VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current resident set
    except OSError:
        print(MEMORY_LINE + "null")
        return
    for _ in range(2):
        variant.step()
    print(MEMORY_LINE + json.dumps((resident_kib(status, "VmHWM") - baseline) / 1024))


def resident_kib(status: Path, field: str) -> int:
    line = next(line for line in status.read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1])


def peak_memory_mib() -> float | None:
    done = subprocess.run(
        [sys.executable, "-m", __spec__.name, "--memory-probe"], capture_output=True, text=True, cwd=record.REPO_ROOT
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MEMORY_LINE)]
    if done.returncode or not lines:
        sys.exit(f"the memory probe failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len(MEMORY_LINE) :])


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds per variant")
    parser.add_argument("--steps", type=int, default=2, help="training steps per round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant before timing")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    parser.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.memory_probe:
        memory_probe()
        return
    model = DlibResNet.from_dat().eval()
    dlib = load_dlib()
    images = real_chips(dlib, BATCH)
    source = "lfw_emotion" if images is not None else "noise"
    images = images if images is not None else noise_chips(BATCH, seed=1)
    chips = as_chips(images)
    print(f"torch {torch.__version__}, CPU threads: {torch.get_num_threads()}; batch {BATCH} {source} chips")

    figures = {"threads": torch.get_num_threads(), "batch_size": BATCH, "rounds": args.repeats, "chips": source}
    rate, ours = torch_forward(model, images, args.repeats)
    figures["forward/torch_images_per_second"] = rate
    figures.update(dlib_figures(model, dlib, images, ours, real=source == "lfw_emotion"))
    dlib_rate = figures["forward/dlib_images_per_second"]
    figures["forward/torch_over_dlib"] = rate / dlib_rate if dlib_rate else None

    variants = build_variants(model, chips)
    seconds = measure(variants, warmup=args.warmup, repeats=args.repeats, steps=args.steps)
    figures["import_torch_s"], figures["import_torch_cpu_s"] = import_torch_seconds(args.repeats)
    walls = {name: [wall for wall, _ in rounds] for name, rounds in seconds.items()}
    cpus = {name: [cpu for _, cpu in rounds] for name, rounds in seconds.items()}
    for label, table in (("", walls), ("cpu_", cpus)):  # step_ms and over_head, step_cpu_ms and cpu_over_head
        for name, values in table.items():
            figures[f"{name}/step_{label}ms"] = 1000 * statistics.median(values)
            if name != "head":
                paired = [value / head for value, head in zip(values, table["head"])]
                figures[f"{name}/{label}over_head"] = statistics.median(paired)
    figures["all/peak_memory_mib"] = peak_memory_mib()
    print("\n".join(report(figures)))
    record.save(args, __spec__.name, figures, __doc__)


def report(figures: dict) -> list[str]:
    lines = [f"{'step':<8}{'ms/step':>10}{'x head':>9}{'CPU ms/step':>13}{'x head':>9}"]
    for name in ("head", *LEVEL_VARIANTS, "all"):
        ratio, cpu_ratio = figures.get(f"{name}/over_head", 1.0), figures.get(f"{name}/cpu_over_head", 1.0)
        lines.append(
            f"{name:<8}{figures[f'{name}/step_ms']:>10.1f}{ratio:>9.2f}"
            f"{figures[f'{name}/step_cpu_ms']:>13.1f}{cpu_ratio:>9.2f}"
        )
    lines.append(
        f"bare import torch: {figures['import_torch_s']:.2f} s wall, {figures['import_torch_cpu_s']:.2f} s CPU "
        "(fresh process)"
    )
    lines.append(f"torch forward: {figures['forward/torch_images_per_second']:.1f} images/s")
    if figures.get("forward/dlib_images_per_second"):
        lines.append(
            f"dlib compute_face_descriptor: {figures['forward/dlib_images_per_second']:.1f} images/s "
            f"(torch {figures['forward/torch_over_dlib']:.1f} x faster); max abs difference of the descriptors: "
            f"{figures['parity/real_chips_max_abs']} on real chips, {figures['parity/colour_noise_max_abs']:.2e} "
            "on colour and noise"
        )
    peak = figures["all/peak_memory_mib"]
    lines.append(f"full step peak memory: {'-' if peak is None else f'{peak:.0f} MiB'} over the loaded model")
    return lines


if __name__ == "__main__":
    main()
