"""Aligned faces of one fold, loaded into memory once, with integer identity and expression codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image

from .vocabulary import EXPRESSIONS

SPLITS = ("train", "val", "test")


@dataclass
class FaceSet:
    """Faces of one split: uint8 images (N x 3 x S x S) and their labels."""

    image_ids: list[str]
    images: torch.Tensor
    identities: np.ndarray  # identity names
    sessions: np.ndarray  # "" where unknown
    expressions: np.ndarray  # expression codes used by the losses, -1 unknown
    manual_expressions: np.ndarray  # dataset labels as codes, -1 unknown (for the cross-expression breakdown)

    def __len__(self) -> int:
        return len(self.image_ids)

    def subset(self, keep: np.ndarray) -> "FaceSet":
        """The faces where the boolean mask ``keep`` is true, in the same order."""
        keep = np.asarray(keep, dtype=bool)
        return FaceSet([image_id for image_id, kept in zip(self.image_ids, keep) if kept],
                       self.images[torch.from_numpy(keep)], self.identities[keep], self.sessions[keep],
                       self.expressions[keep], self.manual_expressions[keep])

    def identity_codes(self) -> np.ndarray:
        """Identities as 0..n-1 in sorted-name order (stable across runs)."""
        _, codes = np.unique(self.identities, return_inverse=True)
        return codes


def expression_codes(names) -> np.ndarray:
    """Canonical expression names to indices into EXPRESSIONS; "" (unknown) becomes -1."""
    lookup = {name: index for index, name in enumerate(EXPRESSIONS)}
    return np.array([lookup.get(str(name) if isinstance(name, str) else "", -1) for name in names], dtype=np.int64)


def load_images(paths, size: int) -> torch.Tensor:
    """Read aligned crops as an N x 3 x size x size uint8 tensor (resized when needed)."""
    images = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.BILINEAR)
            images[index] = np.asarray(image)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to floats in [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def fold_faces(manifest: pd.DataFrame, folds: pd.DataFrame, fold: int, split: str,
               expressions: pd.Series, input_size: int) -> FaceSet:
    """The faces of one split of one fold.

    `expressions` maps image_id to the canonical expression the losses should see ("" unknown).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    chosen = folds[(folds["fold"] == fold) & (folds["split"] == split)]["image_id"]
    rows = manifest.set_index("image_id").loc[chosen.tolist()]
    ids = rows.index.astype(str).tolist()
    sessions = rows["session"].fillna("").astype(str).to_numpy() if "session" in rows else np.array([""] * len(ids))
    manual = rows["emotion_manual"].fillna("").astype(str) if "emotion_manual" in rows else pd.Series([""] * len(ids))
    return FaceSet(
        image_ids=ids,
        images=load_images(rows["aligned_path"].tolist(), input_size),
        identities=rows["identity"].astype(str).to_numpy(),
        sessions=sessions,
        expressions=expression_codes(expressions.reindex(ids).fillna("").tolist()),
        manual_expressions=expression_codes(manual.tolist()),
    )
