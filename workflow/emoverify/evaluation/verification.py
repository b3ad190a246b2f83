"""Verification on a fold's unseen test identities, with the threshold chosen on validation identities."""

from __future__ import annotations

import json

import numpy as np
import torch

from emoverify import atomic, metrics
from emoverify.atomic import replaced_when_complete
from emoverify.layout import Run
from emoverify.model.device import seed_everything
from emoverify.model.embedding import distance_metric, embed
from emoverify.model.networks import model_from_recipe
from emoverify.splits.fold_data import FaceSet


def pixel_embeddings(faces: FaceSet, size: int = 32) -> np.ndarray:
    """Raw-pixel reference: grey images downsized, each centred and scaled to unit norm."""
    images = faces.images.float().mean(dim=1, keepdim=True)
    small = torch.nn.functional.interpolate(images, size=(size, size), mode="area").flatten(1)
    small = small - small.mean(dim=1, keepdim=True)
    return torch.nn.functional.normalize(small, dim=1).numpy()


def verification_report(
    test_embeddings: np.ndarray,
    test: FaceSet,
    val_embeddings: np.ndarray,
    val: FaceSet,
    *,
    metric: str,
    evaluation: dict,
    seed: int,
) -> dict:
    """All verification metrics of one run; the decision threshold comes from the validation identities."""
    sessions = test.sessions if evaluation["exclude_same_session"] else None
    val_sessions = val.sessions if evaluation["exclude_same_session"] else None
    threshold, threshold_note = validation_threshold(val_embeddings, val, metric=metric, sessions=val_sessions)
    result = metrics.verification_metrics(
        test_embeddings,
        test.identities,
        metric=metric,
        sessions=sessions,
        emo=test.manual_expressions if (test.manual_expressions >= 0).any() else test.expressions,
        threshold=threshold,
        exclude_same_session=evaluation["exclude_same_session"],
    )
    result["rank1"] = metrics.rank1_identification(
        test_embeddings, test.identities, metric=metric, n_draws=evaluation["rank1_draws"], seed=seed, sessions=sessions
    )
    result["threshold"] = threshold
    if threshold_note:
        result["notes"] = [*result.get("notes", []), threshold_note]
    result["n_test_images"] = len(test)
    result["n_test_identities"] = int(len(np.unique(test.identities)))
    return {key: _plain(value) for key, value in result.items()}


def validation_threshold(
    val_embeddings: np.ndarray, val: FaceSet, *, metric: str, sessions
) -> tuple[float | None, str]:
    """The accuracy threshold chosen on validation pairs, or None and why when they cannot choose one."""
    if len(val) == 0:
        return None, "no validation identities: accuracy at a chosen threshold is NaN"
    try:
        return metrics.choose_threshold(val_embeddings, val.identities, metric=metric, sessions=sessions), ""
    except metrics.MetricsInputError as error:
        return None, f"accuracy is NaN: {error}"


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def run_fields(run: Run) -> dict:
    """Which run a saved file belongs to, as its files record it."""
    return {"method": run.method, "labels": run.labels, "repeat": run.repeat, "fold": run.fold, "seed": run.seed}


def save_embeddings(path, embeddings: np.ndarray, faces: FaceSet, run: Run, *, metric: str) -> None:
    """Test embeddings with identity, session and both expression codes, and which run made them."""
    with replaced_when_complete(path) as temporary:
        np.savez_compressed(
            temporary,
            embeddings=embeddings,
            image_id=np.asarray(faces.image_ids, dtype=str),
            identity=np.asarray(faces.identities, dtype=str),
            session=np.asarray(faces.sessions, dtype=str),
            expression=faces.expressions,
            expression_manual=faces.manual_expressions,
            metric=metric,
            **run_fields(run),
        )


def write_metrics(
    path, run: Run, *, geometry: str, values: dict, extra: dict | None = None, status: str = "ok"
) -> None:
    record = {**run_fields(run), "geometry": geometry, "status": status, "metrics": values, **(extra or {})}
    atomic.write_text(path, json.dumps(record, indent=2, sort_keys=True))


def untrained_model(recipe: dict, seed: int, device: torch.device):
    seed_everything(seed)
    return model_from_recipe(recipe, "spherical").to(device).eval()


def embed_splits(model, faces: dict[str, FaceSet], device) -> dict[str, np.ndarray]:
    """Embeddings of every split in `faces`."""
    return {split: embed(model, subset.images, device) for split, subset in faces.items()}


def score_and_save(
    embeddings: dict[str, np.ndarray],
    faces: dict[str, FaceSet],
    run: Run,
    *,
    geometry: str,
    evaluation: dict,
    outputs,
    extra: dict | None = None,
) -> dict:
    """Score a run on its test people (threshold from validation people, distance from its geometry) and write
    its embeddings and metrics: the one sequence every evaluation rule ends with."""
    metric = distance_metric(geometry)
    test, val = faces["test"], faces["val"]
    problem = unscorable(test)
    if problem:
        print(f"not scored: {problem}")
        record_failed_run(outputs, run, f"not scored: {problem}", geometry, extra=extra)
        return {}
    values = verification_report(
        embeddings["test"], test, embeddings["val"], val, metric=metric, evaluation=evaluation, seed=run.seed
    )
    save_embeddings(outputs.embeddings, embeddings["test"], test, run, metric=metric)
    write_metrics(outputs.metrics, run, geometry=geometry, values=values, extra=extra)
    return values


def unscorable(test: FaceSet) -> str | None:
    """Why a test split cannot be scored (verification needs positive and negative pairs), or None."""
    people, counts = np.unique(test.identities, return_counts=True)
    if len(people) >= 2 and (counts >= 2).any():
        return None
    return (
        f"the fold's test split has {len(people)} identities and {int(counts.max(initial=0))} faces at most per "
        "identity; verification needs two people and someone with two faces (lower folds)"
    )


def record_failed_run(outputs, run: Run, reason: str, geometry: str, extra: dict | None = None) -> None:
    """A run that could not train or be scored leaves its reason in both evaluation outputs, so the report
    lists it as a missing row with that reason."""
    save_failed_embeddings(outputs.embeddings, reason, run)
    status = reason if reason.startswith("not scored") else f"failed: {reason}"
    write_metrics(outputs.metrics, run, geometry=geometry, values={}, status=status, extra=extra)


def save_failed_embeddings(path, reason: str, run: Run) -> None:
    """The embeddings file of a run that could not train: no embeddings, only the reason."""
    with replaced_when_complete(path) as temporary:
        np.savez_compressed(temporary, failed=reason, metric="", **run_fields(run))
