"""Aligned faces of one fold, loaded into memory once, with integer identity and expression codes from the
run's label source."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image

from emoverify.labels import sources as label_sources
from emoverify.vocabulary import EXPRESSIONS

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

    def subset(self, keep: np.ndarray) -> FaceSet:
        """The faces where the boolean mask ``keep`` is true, in the same order."""
        keep = np.asarray(keep, dtype=bool)
        return FaceSet(
            [image_id for image_id, kept in zip(self.image_ids, keep) if kept],
            self.images[torch.from_numpy(keep)],
            self.identities[keep],
            self.sessions[keep],
            self.expressions[keep],
            self.manual_expressions[keep],
        )

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


def fold_faces(
    manifest: pd.DataFrame, folds: pd.DataFrame, fold: int, split: str, expressions: pd.Series, input_size: int
) -> FaceSet:
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


def read_table(path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False)


def run_expressions(manifest: pd.DataFrame, label_params: dict, detected_path: str | None) -> pd.Series:
    """The expression each image shows, from the run's label source ("" unknown)."""
    source = label_params["source"]
    if source == "none":
        return pd.Series("", index=manifest["image_id"])
    detected = read_table(detected_path) if detected_path else None
    return label_sources.resolve_expressions(manifest, detected, source, label_params.get("confidence_threshold", 0.0))


def load_fold(
    manifest_path,
    folds_path,
    fold: int,
    input_size: int,
    *,
    label_params: dict,
    detected_path: str | None = None,
    splits=("train", "val", "test"),
) -> dict[str, FaceSet]:
    """The requested splits of one fold as in-memory face sets, with the run's label source."""
    manifest = read_table(manifest_path)
    folds = read_table(folds_path)
    expressions = run_expressions(manifest, label_params, detected_path)
    return {split: fold_faces(manifest, folds, fold, split, expressions, input_size) for split in splits}


def load_rule_fold(inputs, fold: int, input_size: int, label_params: dict, splits: tuple[str, ...]):
    """`load_fold` from a train or evaluate rule's inputs (manifest, folds and, for detected labels, detected)."""
    return load_fold(
        inputs.manifest,
        inputs.folds,
        fold,
        input_size,
        label_params=label_params,
        detected_path=inputs.get("detected"),
        splits=splits,
    )
