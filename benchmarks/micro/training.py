"""Training speed per step: identity loss alone against identity loss plus every expression loss.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.micro.training [--repeats 8] [--steps 3] [--threads N] [--json PATH | --record]

Times the inner training step (forward, objective, backward, optimiser step) of the
default config's CompactCNN on the same P x K batches of demo drawings, for

    tl      Triplet, spherical
    tl+all  Triplet + pdm, pdp, fbv, ce, mtl (0.1 each), euclidean
    af      ArcFace, spherical
    af+all  ArcFace + pdm, pdp, fbv, ce, mtl (0.1 each), spherical (ArcFace needs the sphere)

Batches are drawn, augmented and converted to model input before timing, so the
figures are the step alone, the part the losses can change. Variants are timed
in interleaved rounds (tl, tl+all, af, af+all, tl, ...) after a warm-up, so
machine noise hits all of them; each round times ``--steps`` steps and the
table shows the median over rounds. The extra cost of the expression losses is
the median over rounds of the paired ratio (with-losses / alone - 1). On a busy
machine those rounds are noisy, so the objective alone (forward and backward on
fixed embeddings, repeated many times) is timed too: its difference between the
variants, over the step time of the variant alone, estimates the same extra cost
with far less noise. The target is below 15%.

Figures: per variant ``<variant>/step_ms`` (median), ``/images_per_second`` and ``/objective_ms``; per pair
``<variant>/extra_percent`` (paired rounds) and ``<variant>/objective_extra_percent`` (the objective alone).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch  # before anything that might import tensorflow (see COMMON notes)
import yaml

from benchmarks import record
from emoverify.data.demo import generate_demo
from emoverify.model.device import seed_everything
from emoverify.model.embedding import to_model_input
from emoverify.model.networks import model_from_recipe
from emoverify.splits.fold_data import FaceSet, expression_codes, load_images
from emoverify.training import optimizers
from emoverify.training.loop import augment, build_objective
from emoverify.training.sampler import PKBatchSampler

ROOT = record.REPO_ROOT
ALL_EXPRESSION_LOSSES = {"pdm": 0.1, "pdp": 0.1, "fbv": 0.1, "ce": 0.1, "mtl": 0.1}
VARIANTS = {
    "tl": {"primary": "triplet", "geometry": "spherical"},
    "tl+all": {"primary": "triplet", "geometry": "euclidean", "aux": ALL_EXPRESSION_LOSSES},
    "af": {"primary": "arcface", "geometry": "spherical"},
    "af+all": {"primary": "arcface", "geometry": "spherical", "aux": ALL_EXPRESSION_LOSSES},
}
PAIRS = (("tl", "tl+all"), ("af", "af+all"))
TARGET_EXTRA = 0.15


def default_training() -> dict:
    """The training section of config.yaml, completed with the schema's defaults."""
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    properties = schema["properties"]["training"]["properties"]
    training = {key: spec["default"] for key, spec in properties.items() if "default" in spec}
    training.update(yaml.safe_load((ROOT / "config.yaml").read_text())["training"])
    return training


@dataclass
class Batches:
    """Ready model inputs with their identity and expression codes, identical for every variant."""

    faces: FaceSet
    inputs: list[torch.Tensor]
    ids: list[torch.Tensor]
    emo: list[torch.Tensor]


def demo_faces(input_size: int, seed: int) -> FaceSet:
    """Demo drawings of 12 people, every expression twice, loaded as training loads a fold."""
    with tempfile.TemporaryDirectory() as folder:
        table = generate_demo(folder, n_identities=12, images_per_expression=2, image_size=64, seed=seed)
        images = load_images([Path(folder) / path for path in table["path"]], input_size)
    codes = expression_codes(table["emotion"])
    return FaceSet(
        image_ids=[str(i) for i in range(len(table))],
        images=images,
        identities=table["identity"].to_numpy(),
        sessions=np.array([""] * len(table)),
        expressions=codes,
        manual_expressions=codes,
    )


def demo_batches(training: dict, n_batches: int, seed: int = 0) -> Batches:
    """P x K batches of demo faces, augmented as training does."""
    faces = demo_faces(training["input_size"], seed)
    ids, emo = torch.as_tensor(faces.identity_codes()), torch.as_tensor(faces.expressions)
    sampler = PKBatchSampler(
        ids.numpy(),
        emo.numpy(),
        p=training["batch_identities"],
        k=training["images_per_identity"],
        seed=seed,
        batches_per_epoch=n_batches,
    )
    generator = torch.Generator().manual_seed(seed)
    batches = Batches(faces, [], [], [])
    for batch in sampler:
        index = torch.as_tensor(batch)
        shown = augment(faces.images[index], training["augment_flip"], training["augment_crop"], generator)
        batches.inputs.append(to_model_input(shown))
        batches.ids.append(ids[index])
        batches.emo.append(emo[index])
    return batches


class Trainer:
    """Model, objective and optimiser of one variant, built as train.train_model builds them."""

    def __init__(self, method: dict, training: dict, faces: FaceSet, seed: int = 0):
        seed_everything(seed)
        self.model = model_from_recipe(training, method["geometry"])
        self.objective = build_objective(method, training, faces)
        parameters = list(self.model.parameters()) + list(self.objective.parameters())
        self.optimizer = optimizers.make_optimizer(
            training["optimizer"], parameters, lr=training["learning_rate"], weight_decay=training["weight_decay"]
        )
        self.model.train()
        self.objective.train()

    def step(self, inputs: torch.Tensor, ids: torch.Tensor, emo: torch.Tensor) -> None:
        total, _ = self.objective(self.model(inputs), ids, emo)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()


def timed_round(trainer: Trainer, batches: Batches, first: int, steps: int) -> float:
    """Seconds per step over ``steps`` consecutive batches starting at ``first`` (wrapping around)."""
    started = time.perf_counter()
    for offset in range(steps):
        i = (first + offset) % len(batches.inputs)
        trainer.step(batches.inputs[i], batches.ids[i], batches.emo[i])
    return (time.perf_counter() - started) / steps


def measure(
    trainers: dict[str, Trainer], batches: Batches, *, warmup: int, repeats: int, steps: int
) -> dict[str, list[float]]:
    """Per-step seconds of every variant in each round; variants interleaved, same batches in a round."""
    for trainer in trainers.values():
        timed_round(trainer, batches, 0, warmup)
    seconds = {name: [] for name in trainers}
    for round_index in range(repeats):
        first = round_index * steps
        for name, trainer in trainers.items():
            seconds[name].append(timed_round(trainer, batches, first, steps))
    return seconds


def objective_seconds(trainers: dict[str, Trainer], batches: Batches, repeats: int) -> dict[str, float]:
    """Median seconds of the objective alone (forward and backward on fixed embeddings), per variant.

    Far shorter than a step, so it can be repeated often: a steadier view of what the losses add.
    """
    with torch.no_grad():
        embeddings = {name: trainer.model(batches.inputs[0]) for name, trainer in trainers.items()}
    seconds = {name: [] for name in trainers}
    for _ in range(repeats):
        for name, trainer in trainers.items():
            leaf = embeddings[name].clone().requires_grad_(True)
            started = time.perf_counter()
            total, _ = trainer.objective(leaf, batches.ids[0], batches.emo[0])
            total.backward()
            seconds[name].append(time.perf_counter() - started)
            trainer.objective.zero_grad(set_to_none=True)
    return {name: statistics.median(values) for name, values in seconds.items()}


def figures_of(seconds: dict[str, list[float]], objective: dict[str, float], batch_size: int) -> dict:
    figures = {}
    for name, values in seconds.items():
        median = statistics.median(values)
        figures[f"{name}/step_ms"] = 1000 * median
        figures[f"{name}/images_per_second"] = batch_size / median
        figures[f"{name}/objective_ms"] = 1000 * objective[name]
    for alone, combined in PAIRS:
        extra = statistics.median([b / a - 1 for a, b in zip(seconds[alone], seconds[combined])])
        by_objective = (objective[combined] - objective[alone]) / statistics.median(seconds[alone])
        figures[f"{combined}/extra_percent"] = 100 * extra
        figures[f"{combined}/objective_extra_percent"] = 100 * by_objective
    return figures


def report(seconds: dict[str, list[float]], objective: dict[str, float], batch_size: int) -> list[str]:
    lines = [f"{'variant':<8} {'median ms/step':>15} {'min ms/step':>12} {'images/s':>9} {'objective ms':>13}"]
    for name, values in seconds.items():
        median = statistics.median(values)
        lines.append(
            f"{name:<8} {1000 * median:>15.1f} {1000 * min(values):>12.1f} {batch_size / median:>9.1f} "
            f"{1000 * objective[name]:>13.2f}"
        )
    lines.append("")
    for alone, combined in PAIRS:
        ratios = [b / a - 1 for a, b in zip(seconds[alone], seconds[combined])]
        extra = statistics.median(ratios)
        by_objective = (objective[combined] - objective[alone]) / statistics.median(seconds[alone])
        verdict = "meets" if max(extra, by_objective) < TARGET_EXTRA else "MISSES"
        lines.append(
            f"{combined}: expression losses cost {100 * extra:+.1f}% extra per step over {alone} "
            f"(median of {len(ratios)} paired rounds, range {100 * min(ratios):+.1f}% to "
            f"{100 * max(ratios):+.1f}%); from the objective alone {100 * by_objective:+.1f}% "
            f"of {alone}'s step; {verdict} the < {100 * TARGET_EXTRA:.0f}% target"
        )
    return lines


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=8, help="interleaved timing rounds per variant")
    parser.add_argument("--steps", type=int, default=3, help="training steps per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant before timing")
    parser.add_argument(
        "--objective-repeats", type=int, default=50, help="interleaved timings of the objective alone per variant"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    training = default_training()
    batches = demo_batches(training, n_batches=max(args.steps * args.repeats, args.warmup))
    batch_size = training["batch_identities"] * training["images_per_identity"]
    trainers = {name: Trainer(method, training, batches.faces) for name, method in VARIANTS.items()}
    print(f"torch {torch.__version__}, CPU threads: {torch.get_num_threads()}")
    print(
        f"backbone {training['backbone']} width {training['width']}, embedding {training['embedding_dim']}, "
        f"input {training['input_size']}px, batch P={training['batch_identities']} x "
        f"K={training['images_per_identity']} = {batch_size} images, mining {training['mining']}"
    )
    print(f"{args.warmup} warm-up steps, then {args.repeats} interleaved rounds x {args.steps} steps per variant\n")
    seconds = measure(trainers, batches, warmup=args.warmup, repeats=args.repeats, steps=args.steps)
    objective = objective_seconds(trainers, batches, repeats=args.objective_repeats)
    print("\n".join(report(seconds, objective, batch_size)))
    settings = {"threads": torch.get_num_threads(), "batch_size": batch_size, "rounds": args.repeats}
    record.save(args, __spec__.name, {**settings, **figures_of(seconds, objective, batch_size)}, __doc__)


if __name__ == "__main__":
    main()
