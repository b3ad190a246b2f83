"""One training job: the runs it holds (one, or every seed of a method x label source x fold with
``batch_seeds``), each trained from its own seed exactly as if alone and saved to its own run folder.

Holding several runs in one process pays the process's start-up once (the interpreter and torch; the
optimizers keep torch._dynamo out, see optimizers.py) and loads the fold's faces once (docs/performance.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TextIO

import torch

from emoverify import atomic
from emoverify.layout import Run, job_paths
from emoverify.losses import across_session_terms
from emoverify.model import checkpoint
from emoverify.splits.fold_data import FaceSet
from emoverify.training import loop, pair_counts
from emoverify.training.fold import PreparedFold, prepare_fold
from emoverify.training.settings import Progress, TrainingSettings


@dataclass(frozen=True)
class RunOutputs:
    """Where one run writes: its checkpoint, its history and (None: not written) the training labels it read."""

    model: str
    history: str
    training_labels: str | None = None


@dataclass(frozen=True)
class JobSettings:
    """What every run of one training job shares: the epochs cap, the device and the console (the live
    progress; None: stderr)."""

    epochs: int
    device: torch.device
    console: TextIO | None = None


def run_outputs(models, histories, training_labels=None) -> list[RunOutputs]:
    """A rule's model, history and (optionally) training-label outputs (one path each, or lists with
    batch_seeds or batch_heads), run by run."""
    models, histories = job_paths(models), job_paths(histories)
    labels = [None] * len(models) if training_labels is None else job_paths(training_labels)
    if not len(models) == len(histories) == len(labels):
        raise ValueError(
            f"{len(models)} model paths need as many history and training-label paths, got {len(histories)} and "
            f"{len(labels)}"
        )
    return [RunOutputs(str(m), str(h), None if t is None else str(t)) for m, h, t in zip(models, histories, labels)]


def train_and_save(
    fold: PreparedFold, run: Run, outputs: RunOutputs, *, method: dict, settings: TrainingSettings, job: JobSettings
) -> None:
    """Train one run on the prepared fold and write its checkpoint and history (or, when the data cannot feed
    the method, a failed checkpoint that says why and an empty history)."""
    extra = {
        "method_name": run.method,
        "labels": run.label_source,
        "repeat": run.repeat,
        "fold": run.fold,
        "seed": run.seed,
    }
    name = f"{run.method}/{run.label_source}/repeat{run.repeat}/fold{run.fold}/seed{run.seed}"
    print(f"{name} on {job.device}: {len(fold.train)} training and {len(fold.val)} validation faces", flush=True)
    if fold.train.rare_expressions:
        extra["rare_expressions"] = ", ".join(fold.train.rare_expressions)
        print(f"made unknown on this fold's training people (too few images): {extra['rare_expressions']}")
    flagged = flag_single_session_losses(fold.train, method)
    if flagged:
        extra["single_session_losses"] = ", ".join(flagged)
    try:
        result = loop.train_model(
            fold,
            method=method,
            settings=settings,
            epochs=job.epochs,
            seed=run.seed,
            device=job.device,
            progress=Progress(
                stream=job.console,
                run_name=name,
                on_epoch=lambda history: atomic.write_text(outputs.history, history.to_csv(index=False)),
            ),
        )
    except loop.TrainingDataError as error:
        print(f"run not trainable on this data: {error}")
        checkpoint.save_failed_checkpoint(
            outputs.model, str(error), method=method, training=dict(settings.recipe), extra=extra
        )
        atomic.write_text(outputs.history, "")
    else:
        atomic.write_text(outputs.history, result.history.to_csv(index=False))  # with the shipped epoch marked
        checkpoint.save_checkpoint(outputs.model, result, method=method, training=dict(settings.recipe), extra=extra)
        print(f"best epoch {result.best_epoch} of {result.epochs_run}, chosen by {result.selection}")
        for loss, pairs in result.pairs_seen.items():
            print(f"{loss} used {pairs} pairs over the training" + (" (it trained nothing)" if pairs == 0 else ""))


def flag_single_session_losses(train: FaceSet, method: dict) -> list[str]:
    """The method's expression losses whose same-person pairs all fall within one recording session on this
    training set, each with a warning in the log (before training)."""
    across = across_session_terms(method)  # their pairs span sessions by construction
    names = [name for name, weight in method.get("aux", {}).items() if weight > 0 and name not in across]
    if not names:
        return []
    counts = pair_counts.loss_pairs(train.identities, train.sessions, train.expressions, names).set_index("loss")
    flagged = [name for name in names if counts.loc[name, "single_session"]]
    for name in flagged:
        print(pair_counts.warning_line(name, counts.loc[name]), flush=True)
    return flagged


def write_training_labels(train: FaceSet, path) -> None:
    """The labels the run's losses read on its training faces, so a control can be audited."""
    atomic.write_text(path, pair_counts.training_labels(train).to_csv(index=False))


def train_runs(
    fold: PreparedFold,
    runs: list[Run],
    outputs: list[RunOutputs],
    *,
    method: dict,
    settings: TrainingSettings,
    job: JobSettings,
) -> list[float]:
    """Train and save each run in turn (and, where its outputs name one, the training labels it read); returns
    each run's seconds."""
    if len(runs) != len(outputs):
        raise ValueError(f"{len(runs)} runs need as many outputs, got {len(outputs)}")
    seconds = []
    for run, written in zip(runs, outputs):
        started = time.perf_counter()
        if written.training_labels is not None:
            write_training_labels(fold.train, written.training_labels)
        train_and_save(fold, run, written, method=method, settings=settings, job=job)
        seconds.append(time.perf_counter() - started)
    return seconds


def train_unit(
    load_faces,
    members: list[dict],
    outputs: list[RunOutputs],
    *,
    repeat: int,
    fold: int,
    job: JobSettings,
    dataset_expressions: set[str] | None = None,
) -> list[float]:
    """Every head run of one fold unit (``batch_heads``), in turn, each exactly as its standalone job trains
    it (and, where its outputs name one, writes the training labels it read); returns each run's seconds.

    ``members`` are ``study.unit_job_runs`` entries (method, label_source, seed, spec, training, label_params);
    ``load_faces(label_params, input_size)`` gives the fold's train and val faces, loaded and prepared once per
    label source; ``dataset_expressions`` as ``prepare_fold`` takes them.
    """
    if len(members) != len(outputs):
        raise ValueError(f"{len(members)} unit members need as many outputs, got {len(outputs)}")
    prepared: dict[tuple, PreparedFold] = {}
    val_pairs = {}  # the pairs each validation set's runs score (every label source has the same people)
    seconds = []
    for member, written in zip(members, outputs):
        started = time.perf_counter()
        faces_key = (repr(sorted(member["label_params"].items())), member["training"]["input_size"])
        if faces_key not in prepared:
            faces = load_faces(member["label_params"], member["training"]["input_size"])
            val_key = tuple(faces["val"].image_ids)
            prepared[faces_key] = prepare_fold(
                faces["train"], faces["val"], dataset_expressions, val_pairs.get(val_key)
            )
            val_pairs.setdefault(val_key, prepared[faces_key].val_pairs)
        unit_fold = prepared[faces_key]
        if written.training_labels is not None:
            write_training_labels(unit_fold.train, written.training_labels)
        run = Run(member["method"], member["label_source"], fold, member["seed"], repeat=repeat)
        settings = TrainingSettings.from_recipe(member["training"])
        train_and_save(unit_fold, run, written, method=member["spec"], settings=settings, job=job)
        seconds.append(time.perf_counter() - started)
    return seconds
