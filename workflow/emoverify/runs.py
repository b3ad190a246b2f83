"""Glue of the train and evaluate rules: read a stage's files, pick the fold and the label source."""

from __future__ import annotations

import pandas as pd
import torch

from . import labels as label_sources
from .facedata import FaceSet, fold_faces


def read_table(path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False)


def run_expressions(manifest: pd.DataFrame, label_params: dict, detected_path: str | None) -> pd.Series:
    """The expression each image shows, from the run's label source ("" unknown)."""
    source = label_params["source"]
    if source == "none":
        return pd.Series("", index=manifest["image_id"])
    detected = read_table(detected_path) if detected_path else None
    return label_sources.resolve_expressions(manifest, detected, source,
                                             label_params.get("confidence_threshold", 0.0))


def load_fold(manifest_path, folds_path, fold: int, input_size: int, *, label_params: dict,
              detected_path: str | None = None, splits=("train", "val", "test")) -> dict[str, FaceSet]:
    """The requested splits of one fold as in-memory face sets, with the run's label source."""
    manifest = read_table(manifest_path)
    folds = read_table(folds_path)
    expressions = run_expressions(manifest, label_params, detected_path)
    return {split: fold_faces(manifest, folds, fold, split, expressions, input_size) for split in splits}


def use_threads(n_threads: int) -> None:
    """Give torch the threads Snakemake granted the job: small CPU models gain more from parallel jobs
    than from many threads in one, and jobs must not oversubscribe the cores they were given."""
    torch.set_num_threads(max(1, int(n_threads)))
