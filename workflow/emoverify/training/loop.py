"""Train one embedding model: one method on the training identities of one fold, for one seed."""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from emoverify import metrics
from emoverify.losses import across_session_terms
from emoverify.losses.expression.fbv import fbv_origin
from emoverify.model.device import seed_everything
from emoverify.model.embedding import distance_metric, embed, is_image_batch, to_model_input
from emoverify.model.networks import EmbeddingModel, model_from_recipe
from emoverify.progress import EpochProgress
from emoverify.registry import CLASS_MEANS, needs_expressions
from emoverify.splits.fold_data import FaceSet
from emoverify.training import calibration, optimizers
from emoverify.training.fold import PreparedFold, validation_pairs
from emoverify.training.objective import CombinedObjective
from emoverify.training.sampler import PKBatchSampler
from emoverify.training.settings import Progress, TrainingSettings
from emoverify.vocabulary import EXPRESSIONS

NEUTRAL = EXPRESSIONS.index("neutral")
DEFAULT_PROGRESS = Progress()  # the epochs on stderr, a line per epoch on stdout


class TrainingDataError(ValueError):
    """The training split cannot feed the chosen method (e.g. no expression labels for an expression loss)."""


@dataclass
class TrainingResult:
    model: EmbeddingModel
    history: pd.DataFrame
    best_epoch: int
    best_val_auc: float  # NaN when there is no validation split: the best epoch then has the lowest loss
    validation_figure: str = "auc"  # the figure that chose the best epoch (see early_stopping_score)
    best_val_figure: float = float("nan")
    # relative expression weights: what was measured and the absolute weights trained with (None: absolute)
    weight_calibration: calibration.WeightCalibration | None = None

    @property
    def selection(self) -> str:
        """How the best epoch was chosen, in words (for the log)."""
        if np.isfinite(self.best_val_figure) and self.validation_figure != "auc":
            return f"validation {self.validation_figure} {self.best_val_figure:.4f} (AUC {self.best_val_auc:.4f})"
        if np.isfinite(self.best_val_auc):
            return f"validation AUC {self.best_val_auc:.4f}"
        return "lowest training loss (no validation split, so no validation AUC)"

    @property
    def epochs_run(self) -> int:
        """Training epochs run (the history's epoch 0, the untrained model's row, trains nothing)."""
        return int((self.history["epoch"] > 0).sum()) if len(self.history) else 0

    @property
    def pairs_seen(self) -> dict[str, int]:
        """Per expression term, the pairs it used over the whole training (0: the term trained nothing)."""
        columns = [c for c in self.history.columns if c.startswith("pairs_")]
        return {column.removeprefix("pairs_"): int(self.history[column].sum()) for column in columns}


def augment(
    images: torch.Tensor,
    flip: bool,
    max_shift: int,
    generator: torch.Generator,
    mirrored: torch.Tensor | None = None,
) -> torch.Tensor:
    """Random horizontal flips and small shifts (reflect-padded), on uint8 batches; descriptors (the head's
    input) pass unchanged and draw nothing from ``generator``. Cached activations come with ``mirrored``, the
    mirror images' rows: a flip picks those (and nothing shifts)."""
    if mirrored is not None:
        if not flip:
            return images
        flipped = torch.rand(images.shape[0], generator=generator) < 0.5
        return torch.where(flipped.view(-1, *[1] * (images.dim() - 1)), mirrored, images)
    if not is_image_batch(images):
        return images
    if flip:
        flipped = torch.rand(images.shape[0], generator=generator) < 0.5
        images = torch.where(flipped[:, None, None, None], images.flip(3), images)
    if max_shift > 0:
        size = images.shape[-1]
        padded = torch.nn.functional.pad(images.float(), [max_shift] * 4, mode="reflect")
        offsets = torch.randint(0, 2 * max_shift + 1, (images.shape[0], 2), generator=generator)
        images = torch.stack(
            [padded[i, :, dy : dy + size, dx : dx + size] for i, (dy, dx) in enumerate(offsets.tolist())]
        ).to(torch.uint8)
    return images


def validation_figures(
    model: EmbeddingModel,
    val: FaceSet,
    device: torch.device,
    pairs: metrics.ValidationPairs | None = None,
    remember: bool = False,
) -> dict[str, float]:
    """AUC and TAR at each FAR level on the validation people (NaN where they give no such figure); ``pairs``
    (``validation_pairs(val)``) spares a run rebuilding them every epoch, and ``remember`` (the untrained
    model, shared by a job's runs of one seed and geometry) keeps these figures in them."""
    if len(val) < 2:
        return dict.fromkeys(metrics.VALIDATION_FIGURES, float("nan"))
    embedding = embed(model, val.images, device)
    result = (pairs or validation_pairs(val)).figures(embedding, distance_metric(model.geometry), remember)
    return {name: float(result[name]) for name in metrics.VALIDATION_FIGURES}


def validation_auc(model: EmbeddingModel, val: FaceSet, device: torch.device) -> float:
    return validation_figures(model, val, device)["auc"]


def early_stopping_score(
    figures: dict[str, float], figure: str, loss: float, bar: float | None = None
) -> tuple[str, tuple[float, ...]]:
    """Which figure ranks this epoch, and its score (higher is better), compared as a tuple.

    ``bar`` None (``training.early_stopping: watched``): AUC saturates (1.000 on the demo's validation people
    within a few epochs) while the strict operating points still move, so the watched figure is usually a TAR at
    a low FAR; ties on it (a TAR moves in steps of one positive pair) go to the higher AUC. Where the validation
    people give no such figure (fewer negative pairs than 1/FAR) AUC ranks the epochs, and without a validation
    split the lowest training loss does.

    ``bar`` a number (``early_stopping: resolved``, see ``resolution_bar``): the watched figure ranks an epoch
    only where it exceeds ``bar``, the starting model's figure plus its noise on these validation pairs; below
    it the figure is at its floor (from scratch on lfw_emotion TAR at FAR 1e-2 stays near 0.04 while AUC rises)
    or at its ceiling (a head starting at dlib), and ranking by it would follow noise, so AUC ranks. The score
    is (resolved, figure or AUC, AUC): an epoch whose figure cleared the bar beats every epoch whose did not,
    and among the unresolved ones the higher AUC wins, so patience counts epochs without a better AUC until the
    figure means something. A NaN ``bar`` (no such figure on these people) leaves AUC, then the loss.
    """
    auc = figures.get("auc", float("nan"))
    value = figures.get(figure, float("nan"))
    if bar is not None:
        if np.isfinite(value) and np.isfinite(auc) and value > bar:
            return figure, (1.0, value, auc)
        if np.isfinite(auc):
            return "auc", (0.0, auc, auc)
        return "loss", (0.0, -loss, -loss)
    if np.isfinite(value):
        return figure, (value, auc if np.isfinite(auc) else -np.inf)
    if np.isfinite(auc):
        return "auc", (auc, auc)
    return "loss", (-loss, -loss)


RESOLUTION_Z = 2.0  # standard errors of a difference of two TARs a watched figure must rise by before it ranks


def resolution_bar(figure: str, start: float, n_positive: int) -> float:
    """What the watched figure must exceed to rank epochs under ``early_stopping: resolved``: the starting model's
    value plus ``RESOLUTION_Z`` binomial standard errors of the difference of two TARs on the validation
    positive pairs, sqrt(2 p (1 - p) / n) with p the start's TAR kept within [1/n, 1 - 1/n] (a start at 0 still
    asks for a few pairs, one at 1 can never be beaten).

    Why two standard errors of the difference, not one of the figure: one is exceeded by chance in about one
    epoch in six, so over a run of 12-30 epochs a figure at its floor would be "resolved" by noise in most runs;
    two of the difference (about 2.8 of one TAR) are exceeded in about one epoch in forty under no change, and
    the binomial error is a lower bound on the real noise (the FAR threshold itself comes from sampled
    negatives). AUC is never at a floor in this sense and always ranks (-inf); without a figure or with fewer
    than two positive pairs nothing resolves (NaN: AUC ranks every epoch).
    """
    if figure == "auc":
        return -np.inf
    if not np.isfinite(start) or n_positive < 2:
        return float("nan")
    p = min(max(start, 1.0 / n_positive), 1.0 - 1.0 / n_positive)
    return float(start + RESOLUTION_Z * np.sqrt(2.0 * p * (1.0 - p) / n_positive))


def untrained_is_candidate(recipe: Mapping) -> bool:
    """Whether the untrained model (epoch 0) competes with the trained epochs for early stopping.

    A head starts as the pretrained recognizer itself (a rotation of its space), and a fine-tuned dlib network
    as dlib, so one whose training does not beat that on validation people ships as the recognizer: training
    can only help. A network trained from scratch starts as noise; shipping it would hide a training that
    failed, so its epochs compete alone. ``training.min_epochs`` above 0 takes epoch 0 out for every backbone
    (``train_model``).
    """
    return recipe["backbone"] in ("head", "dlib_resnet")


def check_training_labels(method: dict, train: FaceSet) -> None:
    if needs_expressions(method) and not (train.expressions >= 0).any():
        raise TrainingDataError(
            f"the method's expression losses {sorted(method.get('aux', {}))} need expression labels, but no "
            "training image has one (with detected labels, lower labels.confidence_threshold; with manual "
            "labels, check that the dataset has them)"
        )


def build_objective(
    method: dict, settings: TrainingSettings, train: FaceSet, dataset_expressions: set[str] | None = None
) -> CombinedObjective:
    split_expressions = {EXPRESSIONS[code] for code in train.manual_expressions.tolist() if code >= 0}
    origin = fbv_origin(dataset_expressions if dataset_expressions is not None else split_expressions)
    loss_settings = settings.loss_settings(len(np.unique(train.identities)), origin)
    return CombinedObjective(
        method["primary"],
        dict(method.get("aux", {})),
        loss_settings,
        across_sessions=across_session_terms(method),
    )


@dataclass
class TrainingSetup:
    """Everything one training run updates or draws from, built in a fixed order so a seed repeats a run."""

    model: EmbeddingModel
    objective: CombinedObjective
    optimizer: optimizers.Optimizer
    sampler: PKBatchSampler
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    ids: torch.Tensor
    emo: torch.Tensor
    mixed: bool
    sessions: torch.Tensor | None = None  # session codes, where a term excludes same-session pairs


def set_up_training(
    fold: PreparedFold, *, method: dict, settings: TrainingSettings, seed: int, device: torch.device
) -> TrainingSetup:
    """Model, objective, optimizer and P x K sampler of one run on ``fold``'s training faces, seeded."""
    train = fold.train
    check_training_labels(method, train)
    seed_everything(seed)
    model = model_from_recipe(settings.recipe, method["geometry"]).to(device)
    objective = build_objective(method, settings, train, fold.dataset_expressions).to(device)
    parameters = list(model.parameters()) + list(objective.parameters())
    optimizer = optimizers.make_optimizer(
        settings.optimizer, parameters, lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    ids = torch.as_tensor(train.identity_codes())
    emo = torch.as_tensor(train.expressions)
    if settings.arcface_centres == CLASS_MEANS and method["primary"] == "arcface":
        start_centres_at_class_means(model, objective, train.images, ids, device)
    n_identities = len(np.unique(train.identities))
    p = min(settings.batch_identities, n_identities)
    if p < settings.batch_identities:
        print(
            f"only {n_identities} training identities: batches of {p} identities instead of "
            f"{settings.batch_identities}",
            flush=True,
        )
    sampler = PKBatchSampler(
        ids.numpy(),
        train.batch_codes() if settings.sampler != "random" else np.full(len(train), -1),
        p=p,
        k=settings.images_per_identity,
        seed=seed,
        batches_per_epoch=settings.batches_per_epoch or None,
        pairs=settings.sampler == "expression_pairs",
    )
    mixed = device.type == "cuda" and settings.mixed_precision
    return TrainingSetup(
        model,
        objective,
        optimizer,
        sampler,
        torch.amp.GradScaler("cuda", enabled=mixed),
        torch.Generator().manual_seed(seed),
        ids,
        emo,
        mixed,
        fold.sessions if objective.needs_sessions else None,
    )


def batch_embedding(
    setup: TrainingSetup,
    train: FaceSet,
    settings: TrainingSettings,
    batch: list[int],
    generator: torch.Generator,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """One batch's identities, expressions, sessions (None unless PDM excludes same-session pairs) and
    embedding (float32), on ``device``, its images augmented with draws from ``generator``."""
    index = torch.as_tensor(batch)
    ids, emo = setup.ids.index_select(0, index), setup.emo.index_select(0, index)
    sessions = None if setup.sessions is None else setup.sessions.index_select(0, index).to(device)
    mirrored = None if train.mirrored is None else train.mirrored.index_select(0, index)
    images = augment(
        train.images.index_select(0, index), settings.augment_flip, settings.augment_crop, generator, mirrored
    )
    with torch.autocast(device_type=device.type, dtype=torch.float16) if setup.mixed else nullcontext():
        embedding = setup.model(to_model_input(images).to(device))
    return ids.to(device), emo.to(device), sessions, embedding.float()


def calibrate_expression_weights(
    setup: TrainingSetup, train: FaceSet, settings: TrainingSettings, device: torch.device
) -> calibration.WeightCalibration:
    """Set the objective's expression weights relative to the primary loss (see :mod:`training.calibration`),
    measured on the first ``settings.calibration_batches`` batches of epoch 1, augmented as training will
    augment them, in training mode; returns what was measured and chosen.

    Nothing the training then draws or starts from changes: the augmentation draws come from a copy of the
    run's generator, torch's random state is restored and so are the model's buffers (BatchNorm's running
    figures), so the run sees exactly the batches, draws and starting point an absolute-weight run of its
    seed sees.
    """
    setup.sampler.set_epoch(1)
    batches = list(itertools.islice(iter(setup.sampler), settings.calibration_batches))
    generator = torch.Generator()
    generator.set_state(setup.generator.get_state())
    saved = copy.deepcopy(setup.model.state_dict())
    setup.model.train()
    setup.objective.train()
    per_batch = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for batch in batches:
            with torch.no_grad():
                ids, emo, sessions, embedding = batch_embedding(setup, train, settings, batch, generator, device)
            per_batch.append(calibration.gradient_norms(setup.objective, embedding, ids, emo, sessions))
    setup.model.load_state_dict(saved)
    result = calibration.calibrated_weights(setup.objective.primary, setup.objective.weights, per_batch)
    setup.objective.set_weights(result.weights)
    return result


def start_centres_at_class_means(
    model: EmbeddingModel, objective: CombinedObjective, images: torch.Tensor, ids: torch.Tensor, device
) -> None:
    """ArcFace's class centres start at the training people's mean embeddings under the untrained model (one
    pass in evaluation mode, no mirror, no random draw), instead of random directions: from a pretrained start
    (a head, dlib's network) the first steps then need not drag the embedding toward arbitrary centres."""
    embedding = torch.from_numpy(embed(model, images, device, flip_average=False)).to(device)
    objective.primary_loss.head.start_at_class_means(embedding, ids.to(device))


def train_one_epoch(
    setup: TrainingSetup, train: FaceSet, settings: TrainingSettings, epoch: int, device: torch.device
) -> dict[str, float]:
    """One pass over the epoch's P x K batches; returns each objective term's mean over the batches and, as
    ``pairs_<term>``, how many pairs each expression term used over the epoch."""
    setup.model.train()
    setup.objective.train()
    setup.sampler.set_epoch(epoch)
    sums: dict[str, float] = {}
    pairs: dict[str, int] = {}  # per expression term, the pairs it used this epoch (summed over batches)
    for batch in setup.sampler:
        ids, emo, sessions, embedding = batch_embedding(setup, train, settings, batch, setup.generator, device)
        total, terms = setup.objective(embedding, ids, emo, sessions)
        setup.optimizer.zero_grad(set_to_none=True)
        if setup.mixed:
            setup.scaler.scale(total).backward()
            setup.scaler.step(setup.optimizer)
            setup.scaler.update()
        else:  # what a disabled GradScaler does, without its checks on every step
            total.backward()
            setup.optimizer.step()
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + float(value)
        for name, count in setup.objective.pairs_used(ids, emo, sessions).items():
            pairs[name] = pairs.get(name, 0) + count
    means = {name: value / max(len(setup.sampler), 1) for name, value in sums.items()}
    return {**means, **pairs}


def _figures_text(validation: dict[str, float]) -> str:
    return "".join(f" {column} {value:.4f}" for column, value in validation.items() if np.isfinite(value))


def train_model(
    fold: PreparedFold,
    *,
    method: dict,
    settings: TrainingSettings,
    epochs: int,
    seed: int,
    device: torch.device,
    progress: Progress = DEFAULT_PROGRESS,
) -> TrainingResult:
    """Train on ``fold`` (its training faces, its validation faces and their pairs, prepared once for a job's
    runs: ``fold.prepare_fold``) with P x K batches and early stopping on ``settings.validation_figure`` (see
    ``early_stopping_score``; ``settings.early_stopping`` says whether it ranks wherever it exists or only once
    it rose above the untrained model's noise); returns the best epoch's model, reporting as ``progress`` says.
    Where ``untrained_is_candidate`` (a head) and ``settings.min_epochs`` is 0, the untrained model is epoch 0 of
    the history and of the ranking, kept unless a trained epoch beats it; epochs before ``min_epochs`` never ship
    and spend no patience. Epoch 0 is in the history also where it is only the bar (resolved) or a head's start.
    The history's ``shipped`` marks the kept epoch; ``TrainingResult.validation_figure`` names the figure that
    ranked it.

    With ``progress.show``, the epochs go to ``progress.stream`` (the console; stderr by default) as a live bar
    on a terminal, elsewhere as a line at most every ``progress.every_seconds`` and at the end (``EpochProgress``),
    and a line per epoch goes to stdout (the rule's log); ``progress.on_epoch(history)`` runs after every epoch
    (the rule writes history.csv as training goes).
    """
    if settings.min_epochs > epochs:
        raise ValueError(
            f"training.min_epochs ({settings.min_epochs}) exceeds the epochs cap ({epochs}): no epoch could ship; "
            "lower training.min_epochs or raise epochs"
        )
    train, val, pairs = fold.train, fold.val, fold.val_pairs
    setup = set_up_training(fold, method=method, settings=settings, seed=seed, device=device)
    model = setup.model
    calibrated = None
    if settings.expression_weights == calibration.RELATIVE and setup.objective.weights:
        calibrated = calibrate_expression_weights(setup, train, settings, device)
        if progress.show:
            print(_calibration_text(calibrated), flush=True)
    watched = settings.validation_figure
    resolved = settings.early_stopping == "resolved"
    bar = float("nan") if resolved else None  # resolved: set from epoch 0's figure (resolution_bar)
    rows, best_state, best_score, best_epoch, stale = [], None, None, 0, 0
    best_figures, used = dict.fromkeys(metrics.VALIDATION_FIGURES, float("nan")), watched
    candidate = untrained_is_candidate(settings.recipe) and settings.min_epochs == 0
    if untrained_is_candidate(settings.recipe) or resolved:  # resolved needs the start's figure as its bar
        started = time.perf_counter()
        figures = validation_figures(model, val, device, pairs, remember=True)
        if any(np.isfinite(value) for value in figures.values()):  # without validation people nothing ranks it
            if resolved:
                bar = resolution_bar(watched, figures[watched], pairs.n_positive)
            if candidate:
                used, best_score = early_stopping_score(figures, watched, float("nan"), bar)
                best_figures, best_state = figures, copy.deepcopy(model.state_dict())
            validation = {metrics.history_column(name): value for name, value in figures.items()}
            rows.append({"epoch": 0, **validation, "seconds": time.perf_counter() - started})
            if progress.show:
                print(f"epoch 0 (untrained):{_figures_text(validation)}", flush=True)
    console = (
        EpochProgress(progress.run_name, epochs, progress.stream, every_seconds=progress.every_seconds)
        if progress.show
        else None
    )
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        losses = train_one_epoch(setup, train, settings, epoch, device)
        figures = validation_figures(model, val, device, pairs)
        validation = {metrics.history_column(name): value for name, value in figures.items()}
        row = {"epoch": epoch, **losses, **validation, "seconds": time.perf_counter() - started}
        rows.append(row)
        if progress.on_epoch is not None:
            progress.on_epoch(pd.DataFrame(rows))
        if console is not None:
            shown = {"val_auc": figures["auc"]} if np.isfinite(figures["auc"]) else {}
            console.update(epoch, loss=row.get("total", float("nan")), **shown)
        if progress.show:
            print(f"epoch {epoch}: loss {row.get('total', float('nan')):.4f}{_figures_text(validation)}", flush=True)
        if epoch < settings.min_epochs:  # never shipped, and no patience spent
            continue
        ranked_by, score = early_stopping_score(figures, watched, row.get("total", 0.0), bar)
        if best_score is None or score > best_score:
            best_score, best_figures, best_epoch, used, stale = score, figures, epoch, ranked_by, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= settings.patience:
                break
    if console is not None:
        console.close()
    model.load_state_dict(best_state)
    history = pd.DataFrame(rows)
    if len(history):
        history["shipped"] = history["epoch"] == best_epoch  # the epoch the model is (tuning reads its figures)
    best_figure = best_figures.get(used, float("nan"))
    return TrainingResult(model, history, best_epoch, float(best_figures["auc"]), used, float(best_figure), calibrated)


def _calibration_text(calibrated: calibration.WeightCalibration) -> str:
    norms = ", ".join(f"{name} {value:.4g}" for name, value in calibrated.gradient_norms.items())
    weights = ", ".join(
        f"{name} {calibrated.relative_weights[name]:g} -> {value:.4g}" for name, value in calibrated.weights.items()
    )
    reasons = "".join(f"; {name}: {reason}" for name, reason in calibrated.reasons.items())
    return (
        f"relative expression weights, measured on {calibrated.batches} batches: gradient norms at the embedding "
        f"{norms}; weights {weights}{reasons}"
    )
