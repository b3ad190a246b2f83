"""Verification on a fold's unseen test identities, with the threshold chosen on validation identities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from . import metrics
from .facedata import FaceSet
from .models import build_model
from .train import distance_metric, embed, seed_everything


def pixel_embeddings(faces: FaceSet, size: int = 32) -> np.ndarray:
    """Raw-pixel reference: grey images downsized, each centred and scaled to unit norm."""
    images = faces.images.float().mean(dim=1, keepdim=True)
    small = torch.nn.functional.interpolate(images, size=(size, size), mode="area").flatten(1)
    small = small - small.mean(dim=1, keepdim=True)
    return torch.nn.functional.normalize(small, dim=1).numpy()


def verification_report(test_embeddings: np.ndarray, test: FaceSet, val_embeddings: np.ndarray, val: FaceSet, *,
                        metric: str, evaluation: dict, seed: int) -> dict:
    """All verification metrics of one run; the decision threshold comes from the validation identities."""
    sessions = test.sessions if evaluation["exclude_same_session"] else None
    val_sessions = val.sessions if evaluation["exclude_same_session"] else None
    threshold, threshold_note = validation_threshold(val_embeddings, val, metric=metric, sessions=val_sessions)
    result = metrics.verification_metrics(test_embeddings, test.identities, metric=metric, sessions=sessions,
                                          emo=test.manual_expressions if (test.manual_expressions >= 0).any()
                                          else test.expressions,
                                          threshold=threshold,
                                          exclude_same_session=evaluation["exclude_same_session"])
    result["rank1"] = metrics.rank1_identification(test_embeddings, test.identities, metric=metric,
                                                   n_draws=evaluation["rank1_draws"], seed=seed, sessions=sessions)
    result["threshold"] = threshold
    if threshold_note:
        result["notes"] = [*result.get("notes", []), threshold_note]
    result["n_test_images"] = len(test)
    result["n_test_identities"] = int(len(np.unique(test.identities)))
    return {key: _plain(value) for key, value in result.items()}


def validation_threshold(val_embeddings: np.ndarray, val: FaceSet, *, metric: str,
                         sessions) -> tuple[float | None, str]:
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


def save_embeddings(path, embeddings: np.ndarray, faces: FaceSet, *, method: str, labels: str, fold: int,
                    seed: int, metric: str) -> None:
    """Test embeddings with identity, session and both expression codes, and which run made them."""
    np.savez_compressed(path, embeddings=embeddings, image_id=np.asarray(faces.image_ids, dtype=str),
                        identity=np.asarray(faces.identities, dtype=str),
                        session=np.asarray(faces.sessions, dtype=str), expression=faces.expressions,
                        expression_manual=faces.manual_expressions, method=method, labels=labels, fold=fold,
                        seed=seed, metric=metric)


def write_metrics(path, *, method: str, labels: str, fold: int, seed: int, geometry: str, values: dict,
                  extra: dict | None = None, status: str = "ok") -> None:
    record = {"method": method, "labels": labels, "fold": fold, "seed": seed, "geometry": geometry,
              "status": status, "metrics": values, **(extra or {})}
    Path(path).write_text(json.dumps(record, indent=2, sort_keys=True))


def untrained_model(training: dict, seed: int, device: torch.device):
    seed_everything(seed)
    return build_model(training["backbone"], embedding_dim=training["embedding_dim"], geometry="spherical",
                       width=training["width"]).to(device).eval()


def embed_pair(model, test: FaceSet, val: FaceSet, device) -> tuple[np.ndarray, np.ndarray, str]:
    return embed(model, test.images, device), embed(model, val.images, device), distance_metric(model.geometry)


def save_failed_embeddings(path, reason: str, *, method: str, labels: str, fold: int, seed: int) -> None:
    """The embeddings file of a run that could not train: no embeddings, only the reason."""
    np.savez_compressed(path, failed=reason, method=method, labels=labels, fold=fold, seed=seed, metric="")
