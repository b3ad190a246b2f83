"""One training job: the runs it holds (one, or every seed of a method x label source x fold with
``batch_seeds``), each trained from its own seed exactly as if alone and saved to its own run folder.

Holding several runs in one process pays the process's start-up once (the interpreter and torch; the
optimizers keep torch._dynamo out, see optimizers.py) and loads the fold's faces once (docs/performance.md).
"""

from __future__ import annotations

import time

from emoverify import atomic
from emoverify.layout import Run
from emoverify.losses import across_session_terms
from emoverify.model import checkpoint
from emoverify.splits.fold_data import FaceSet
from emoverify.training import loop, pair_counts
from emoverify.training.settings import Progress, TrainingSettings


def train_and_save(
    faces: dict[str, FaceSet],
    run: Run,
    model_path,
    history_path,
    *,
    method: dict,
    settings: TrainingSettings,
    epochs: int,
    device,
    console,
    dataset_expressions=None,
    val_pairs=None,
) -> None:
    """Train one run on the fold's train and val faces and write its checkpoint and history (or, when the
    data cannot feed the method, a failed checkpoint that says why and an empty history)."""
    extra = {
        "method_name": run.method,
        "labels": run.label_source,
        "repeat": run.repeat,
        "fold": run.fold,
        "seed": run.seed,
    }
    name = f"{run.method}/{run.label_source}/repeat{run.repeat}/fold{run.fold}/seed{run.seed}"
    print(f"{name} on {device}: {len(faces['train'])} training and {len(faces['val'])} validation faces", flush=True)
    if faces["train"].rare_expressions:
        extra["rare_expressions"] = ", ".join(faces["train"].rare_expressions)
        print(f"made unknown on this fold's training people (too few images): {extra['rare_expressions']}")
    flagged = flag_single_session_losses(faces["train"], method)
    if flagged:
        extra["single_session_losses"] = ", ".join(flagged)
    try:
        result = loop.train_model(
            faces["train"],
            faces["val"],
            method=method,
            settings=settings,
            epochs=epochs,
            seed=run.seed,
            device=device,
            progress=Progress(
                stream=console,
                run_name=name,
                on_epoch=lambda history: atomic.write_text(history_path, history.to_csv(index=False)),
            ),
            dataset_expressions=dataset_expressions,
            val_pairs=val_pairs,
        )
    except loop.TrainingDataError as error:
        print(f"run not trainable on this data: {error}")
        checkpoint.save_failed_checkpoint(
            model_path, str(error), method=method, training=dict(settings.recipe), extra=extra
        )
        atomic.write_text(history_path, "")
    else:
        atomic.write_text(history_path, result.history.to_csv(index=False))  # with the shipped epoch marked
        checkpoint.save_checkpoint(model_path, result, method=method, training=dict(settings.recipe), extra=extra)
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
    faces, runs: list[Run], model_paths: list, history_paths: list, labels_paths: list | None = None, **settings
) -> list[float]:
    """Train and save each run in turn (and, with ``labels_paths``, the training labels it read); returns each
    run's seconds."""
    if not len(runs) == len(model_paths) == len(history_paths):
        raise ValueError(f"{len(runs)} runs need as many model and history paths")
    if labels_paths is not None and len(labels_paths) != len(runs):
        raise ValueError(f"{len(runs)} runs need as many training-label paths, got {len(labels_paths)}")
    seconds = []
    val_pairs = loop.validation_pairs(faces["val"])
    for index, (run, model_path, history_path) in enumerate(zip(runs, model_paths, history_paths)):
        started = time.perf_counter()
        if labels_paths is not None:
            write_training_labels(faces["train"], labels_paths[index])
        train_and_save(faces, run, model_path, history_path, val_pairs=val_pairs, **settings)
        seconds.append(time.perf_counter() - started)
    return seconds


def train_unit(
    load_faces,
    members: list[dict],
    model_paths: list,
    history_paths: list,
    labels_paths: list | None = None,
    *,
    repeat,
    fold,
    **settings,
):
    """Every head run of one fold unit (``batch_heads``), in turn, each exactly as its standalone job trains
    it (and, with ``labels_paths``, writes the training labels it read); returns each run's seconds.

    ``members`` are ``study.unit_job_runs`` entries (method, label_source, seed, spec, training, label_params);
    ``load_faces(label_params, input_size)`` gives the fold's train and val faces, loaded once per label source.
    """
    if not len(members) == len(model_paths) == len(history_paths):
        raise ValueError(f"{len(members)} unit members need as many model and history paths")
    if labels_paths is not None and len(labels_paths) != len(members):
        raise ValueError(f"{len(members)} unit members need as many training-label paths, got {len(labels_paths)}")
    faces_by_source: dict[tuple, dict[str, FaceSet]] = {}
    val_pairs = {}  # the pairs each validation set's runs score (every label source has the same people)
    seconds = []
    for index, (member, model_path, history_path) in enumerate(zip(members, model_paths, history_paths)):
        started = time.perf_counter()
        faces_key = (repr(sorted(member["label_params"].items())), member["training"]["input_size"])
        if faces_key not in faces_by_source:
            faces_by_source[faces_key] = load_faces(member["label_params"], member["training"]["input_size"])
        val = faces_by_source[faces_key]["val"]
        if tuple(val.image_ids) not in val_pairs:
            val_pairs[tuple(val.image_ids)] = loop.validation_pairs(val)
        if labels_paths is not None:
            write_training_labels(faces_by_source[faces_key]["train"], labels_paths[index])
        run = Run(member["method"], member["label_source"], fold, member["seed"], repeat=repeat)
        train_and_save(
            faces_by_source[faces_key],
            run,
            model_path,
            history_path,
            method=member["spec"],
            settings=TrainingSettings.from_recipe(member["training"]),
            val_pairs=val_pairs[tuple(val.image_ids)],
            **settings,
        )
        seconds.append(time.perf_counter() - started)
    return seconds
