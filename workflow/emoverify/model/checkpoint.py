"""A trained model on disk: its weights with the method and recipe it was trained with, or why it could not train."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from emoverify.atomic import replaced_when_complete
from emoverify.model.networks import EmbeddingModel, model_from_recipe
from emoverify.model.safe_load import load_weights


def save_checkpoint(path, result, *, method: dict, training: dict, extra: dict) -> None:
    """Weights with their recipe; the validation figures of the kept epoch only when there was a validation
    split to measure them."""
    validation = {"best_val_auc": result.best_val_auc} if math.isfinite(result.best_val_auc) else {}
    if math.isfinite(result.best_val_figure):
        validation.update(validation_figure=result.validation_figure, best_val_figure=result.best_val_figure)
    state = {"method": method, "training": training}
    progress = {"best_epoch": result.best_epoch, "epochs_run": result.epochs_run, "pairs_seen": result.pairs_seen}
    if result.weight_calibration is not None:  # relative expression weights: what was measured and trained with
        progress["expression_weights"] = result.weight_calibration.record()
    _save({**state, **progress, **validation, **extra}, path, weights=result.model.state_dict())


def save_failed_checkpoint(path, reason: str, *, method: dict, training: dict, extra: dict) -> None:
    """A run the data cannot support (e.g. no expression labels in the split) leaves its reason, not a model,
    so the report lists it as missing with that reason instead of the whole study stopping."""
    _save({"failed": reason, "method": method, "training": training, **extra}, path)


def plain(value):
    """``value`` as tensors and plain Python values only (what the restricted loader reads back): dataclasses
    become dicts, tuples lists, numpy scalars and arrays Python numbers and lists; anything else is refused."""
    if isinstance(value, (torch.Tensor, str, bool, int, float, type(None))):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"a checkpoint holds tensors and plain values only, not {type(value).__name__}: {value!r:.80}")


def _save(state: dict, path, weights=None) -> None:
    """``state`` made plain, with the model's state dict (tensors, kept as torch gives it) under model_state."""
    state = plain(state)
    if weights is not None:
        state["model_state"] = weights
    with replaced_when_complete(path) as temporary:
        torch.save(state, temporary)


def load_checkpoint(path, device: torch.device) -> tuple[EmbeddingModel | None, dict]:
    """Rebuild the model a checkpoint was trained as, load its weights; also return the saved state.

    A failed run's checkpoint gives (None, state) with the reason in state["failed"].
    """
    state = load_weights(path, map_location=device)
    if "failed" in state:
        return None, state
    model = model_from_recipe(state["training"], state["method"]["geometry"], load_pretrained=False)
    model.load_state_dict(state["model_state"])
    return model.to(device).eval(), state


def training_facts(state: dict) -> dict:
    """What a run's checkpoint says about its training, for the runs table: the best (kept) epoch, the epochs
    run (the cap cut training short when they are equal), the validation figure that chose the kept epoch
    and its value, the pairs each expression loss used and, with relative expression weights, the gradient
    norms measured and the weights trained with (``WeightCalibration.record``)."""
    facts = {"best_epoch": state.get("best_epoch"), "epochs_run": state.get("epochs_run")}
    if "best_val_figure" in state:  # the figure that chose the kept epoch, and its value there
        facts.update(validation_figure=state["validation_figure"], val_figure=state["best_val_figure"])
    pairs = state.get("pairs_seen", {})
    facts.update({f"pairs_{loss}": count for loss, count in pairs.items()})
    facts["losses_without_pairs"] = ", ".join(loss for loss, count in pairs.items() if count == 0)
    facts.update(state.get("expression_weights", {}))  # gradient norms and weights of a relative weighting
    if state.get("single_session_losses"):  # losses whose pairs all fall within one recording session
        facts["single_session_losses"] = state["single_session_losses"]
    if state.get("rare_expressions"):  # made unknown on this fold's training people (min_expression_images_on)
        facts["rare_expressions"] = state["rare_expressions"]
    return facts
