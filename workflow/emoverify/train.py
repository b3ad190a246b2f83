"""Train one embedding model: one method on the training identities of one fold, for one seed."""

from __future__ import annotations

import copy
import random
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from . import metrics
from .facedata import FaceSet, to_model_input
from .models import EmbeddingModel, build_model
from .objective import CombinedObjective
from .sampler import PKBatchSampler
from .study import needs_expressions
from .vocabulary import EXPRESSIONS

NEUTRAL = EXPRESSIONS.index("neutral")


class TrainingDataError(ValueError):
    """The training split cannot feed the chosen method (e.g. no expression labels for an expression loss)."""


@dataclass
class TrainingResult:
    model: EmbeddingModel
    history: pd.DataFrame
    best_epoch: int
    best_val_auc: float


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def distance_metric(geometry: str) -> str:
    """Cosine on the sphere, Euclidean in free space: the distance each geometry was trained for."""
    return "cosine" if geometry == "spherical" else "euclidean"


def augment(images: torch.Tensor, flip: bool, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and small shifts (reflect-padded), on uint8 batches."""
    if flip:
        flipped = torch.rand(images.shape[0], generator=generator) < 0.5
        images = torch.where(flipped[:, None, None, None], images.flip(3), images)
    if max_shift > 0:
        size = images.shape[-1]
        padded = torch.nn.functional.pad(images.float(), [max_shift] * 4, mode="reflect")
        offsets = torch.randint(0, 2 * max_shift + 1, (images.shape[0], 2), generator=generator)
        images = torch.stack([
            padded[i, :, dy:dy + size, dx:dx + size] for i, (dy, dx) in enumerate(offsets.tolist())
        ]).to(torch.uint8)
    return images


@torch.no_grad()
def embed(model: EmbeddingModel, images: torch.Tensor, device: torch.device, *, flip_average: bool = True,
          batch_size: int = 256) -> np.ndarray:
    """Embeddings of uint8 images; with flip_average the mirror image's embedding is averaged in."""
    model.eval()
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = to_model_input(images[start:start + batch_size]).to(device)
        embedding = model(batch).float()
        if flip_average:
            embedding = (embedding + model(batch.flip(3)).float()) / 2
            if model.geometry == "spherical":
                embedding = torch.nn.functional.normalize(embedding, dim=1)
        chunks.append(embedding.cpu())
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, 0), dtype=np.float32)


def validation_auc(model: EmbeddingModel, val: FaceSet, device: torch.device) -> float:
    if len(val) < 2:
        return float("nan")
    embedding = embed(model, val.images, device)
    result = metrics.verification_metrics(embedding, val.identities, metric=distance_metric(model.geometry),
                                          sessions=val.sessions)
    return float(result["auc"])


def check_training_labels(method: dict, train: FaceSet) -> None:
    if needs_expressions(method) and not (train.expressions >= 0).any():
        raise TrainingDataError(
            f"the method's expression losses {sorted(method.get('aux', {}))} need expression labels, but no "
            "training image has one (with detected labels, lower labels.confidence_threshold; with manual "
            "labels, check that the dataset has them)"
        )


def build_objective(method: dict, training: dict, train: FaceSet) -> CombinedObjective:
    present = set(train.expressions[train.expressions >= 0].tolist())
    return CombinedObjective(
        method["primary"],
        dict(method.get("aux", {})),
        embedding_dim=training["embedding_dim"],
        n_identities=len(np.unique(train.identities)),
        n_expressions=len(EXPRESSIONS),
        # FBV's origin is neutral; a dataset without neutral (CK+48) gives every expression a basis vector.
        origin_expression=NEUTRAL if NEUTRAL in present else None,
        margin=training["margin"],
        mining=training["mining"],
        arcface_scale=training["arcface_scale"],
        arcface_margin=training["arcface_margin"],
        fbv_scale=training["fbv_scale"],
    )


def train_model(train: FaceSet, val: FaceSet, *, method: dict, training: dict, epochs: int, seed: int,
                device: torch.device, progress: bool = True, progress_stream=None, run_name: str = "training",
                on_epoch=None) -> TrainingResult:
    """Train with P x K batches and early stopping on validation AUC; returns the best epoch's model.

    With `progress`, an epoch progress bar goes to `progress_stream` (the console; stderr by default) and a
    line per epoch to stdout (the rule's log).

    `on_epoch(history)` is called after every epoch (the rule writes history.csv as training goes).
    """
    check_training_labels(method, train)
    seed_everything(seed)
    model = build_model(training["backbone"], embedding_dim=training["embedding_dim"], geometry=method["geometry"],
                        pretrained=training["pretrained"], pretrained_path=training["pretrained_path"] or None,
                        width=training["width"]).to(device)
    objective = build_objective(method, training, train).to(device)
    parameters = list(model.parameters()) + list(objective.parameters())
    if training["optimizer"] == "adam":
        optimizer = torch.optim.Adam(parameters, lr=training["learning_rate"], weight_decay=training["weight_decay"])
    else:
        optimizer = torch.optim.SGD(parameters, lr=training["learning_rate"], momentum=0.9,
                                    weight_decay=training["weight_decay"])
    ids = torch.as_tensor(train.identity_codes())
    emo = torch.as_tensor(train.expressions)
    n_identities = len(np.unique(train.identities))
    p = min(training["batch_identities"], n_identities)
    if p < training["batch_identities"]:
        print(f"only {n_identities} training identities: batches of {p} identities instead of "
              f"{training['batch_identities']}", flush=True)
    sampler = PKBatchSampler(ids.numpy(), emo.numpy(), p=p,
                             k=training["images_per_identity"], seed=seed,
                             batches_per_epoch=training["batches_per_epoch"] or None)
    mixed = device.type == "cuda" and training["mixed_precision"]
    scaler = torch.amp.GradScaler("cuda", enabled=mixed)
    generator = torch.Generator().manual_seed(seed)

    rows, best_state, best_auc, best_epoch, stale = [], None, -np.inf, 0, 0
    bar = tqdm(total=epochs, desc=run_name, unit="epoch", file=progress_stream or sys.stderr, disable=not progress)
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        model.train()
        objective.train()
        sampler.set_epoch(epoch)
        sums: dict[str, float] = {}
        for batch in sampler:
            index = torch.as_tensor(batch)
            images = augment(train.images[index], training["augment_flip"], training["augment_crop"], generator)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=mixed):
                embedding = model(to_model_input(images).to(device))
            total, terms = objective(embedding.float(), ids[index].to(device), emo[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value)
        val_auc = validation_auc(model, val, device)
        row = {"epoch": epoch, **{name: value / max(len(sampler), 1) for name, value in sums.items()},
               "val_auc": val_auc, "seconds": time.perf_counter() - started}
        rows.append(row)
        if on_epoch is not None:
            on_epoch(pd.DataFrame(rows))
        bar.update(1)
        bar.set_postfix(loss=f"{row.get('total', float('nan')):.4f}", val_auc=f"{val_auc:.3f}")
        if progress:
            print(f"epoch {epoch}: loss {row.get('total', float('nan')):.4f} val_auc {val_auc:.4f}", flush=True)
        score = val_auc if np.isfinite(val_auc) else -row.get("total", 0.0)
        if score > best_auc:
            best_auc, best_epoch, stale = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= training["patience"]:
                break
    bar.close()
    model.load_state_dict(best_state)
    return TrainingResult(model, pd.DataFrame(rows), best_epoch, float(best_auc))


def save_checkpoint(path, result: TrainingResult, *, method: dict, training: dict, extra: dict) -> None:
    torch.save({
        "model_state": result.model.state_dict(),
        "method": method,
        "training": training,
        "best_epoch": result.best_epoch,
        "best_val_auc": result.best_val_auc,
        **extra,
    }, path)


def save_failed_checkpoint(path, reason: str, *, method: dict, training: dict, extra: dict) -> None:
    """A run the data cannot support (e.g. no expression labels in the split) leaves its reason, not a model,
    so the report lists it as missing with that reason instead of the whole study stopping."""
    torch.save({"failed": reason, "method": method, "training": training, **extra}, path)


def load_checkpoint(path, device: torch.device) -> tuple[EmbeddingModel | None, dict]:
    """Rebuild the model a checkpoint was trained as, load its weights; also return the saved state.

    A failed run's checkpoint gives (None, state) with the reason in state["failed"].
    """
    state = torch.load(path, map_location=device, weights_only=False)
    if "failed" in state:
        return None, state
    training = state["training"]
    model = build_model(training["backbone"], embedding_dim=training["embedding_dim"],
                        geometry=state["method"]["geometry"], width=training["width"])
    model.load_state_dict(state["model_state"])
    return model.to(device).eval(), state

