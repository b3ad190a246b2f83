"""A trained model on disk: its weights with the method and recipe it was trained with, or why it could not train."""

from __future__ import annotations

import torch

from emoverify.model.networks import EmbeddingModel, model_from_recipe


def save_checkpoint(path, result, *, method: dict, training: dict, extra: dict) -> None:
    torch.save(
        {
            "model_state": result.model.state_dict(),
            "method": method,
            "training": training,
            "best_epoch": result.best_epoch,
            "best_val_auc": result.best_val_auc,
            **extra,
        },
        path,
    )


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
    model = model_from_recipe(state["training"], state["method"]["geometry"], load_pretrained=False)
    model.load_state_dict(state["model_state"])
    return model.to(device).eval(), state
