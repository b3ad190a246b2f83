"""Faces in, embeddings out: the network's input scaling, flip-averaged embedding, and the distance to score with."""

from __future__ import annotations

import numpy as np
import torch

from emoverify.model.networks import EmbeddingModel


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to floats in [-1, 1]; cached descriptors (float rows, the head's input) unchanged."""
    if not is_image_batch(images):
        return images.float()
    return images.float().div(127.5).sub(1.0)


def is_image_batch(inputs: torch.Tensor) -> bool:
    """Images (N x C x H x W uint8) rather than a pretrained recognizer's descriptors (N x F floats)."""
    return inputs.dim() == 4 and inputs.dtype == torch.uint8


@torch.no_grad()
def embed(
    model: EmbeddingModel,
    images: torch.Tensor,
    device: torch.device,
    *,
    flip_average: bool = True,
    batch_size: int = 256,
) -> np.ndarray:
    """Embeddings of uint8 images (or descriptors, or cached activations); with flip_average the mirror image's
    embedding is averaged in (images only: a descriptor has no mirror; and not for a model that describes a face
    from one pass, dlib's network)."""
    model.eval()
    flip_average = flip_average and is_image_batch(images) and getattr(model, "averages_mirror", True)
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = to_model_input(images[start : start + batch_size]).to(device)
        embedding = model(batch).float()
        if flip_average:
            embedding = (embedding + model(batch.flip(3)).float()) / 2
            if model.geometry == "spherical":
                embedding = torch.nn.functional.normalize(embedding, dim=1)
        chunks.append(embedding.cpu())
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, 0), dtype=np.float32)


def distance_metric(geometry: str) -> str:
    """Cosine on the sphere, Euclidean in free space: the distance each geometry was trained for."""
    return "cosine" if geometry == "spherical" else "euclidean"
