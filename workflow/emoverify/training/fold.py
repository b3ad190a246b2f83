"""A fold unit prepared for training: what every run of a job reads and none changes, built once per job."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emoverify import metrics
from emoverify.splits.fold_data import FaceSet
from emoverify.training.pair_counts import session_codes


@dataclass(frozen=True)
class PreparedFold:
    """One fold unit's training input.

    ``train`` and ``val``: the training and validation faces; ``val_pairs``: the pairs every epoch's validation
    scores (None: fewer than two validation faces); ``sessions``: each training face's session code
    (``pair_counts.session_codes``), read by the terms that leave out same-session pairs;
    ``dataset_expressions``: the whole dataset's manual labels, which fix FBV's origin for every label source
    (None: the training faces' own).
    """

    train: FaceSet
    val: FaceSet
    val_pairs: metrics.ValidationPairs | None
    sessions: torch.Tensor
    dataset_expressions: frozenset[str] | None = None


def validation_pairs(val: FaceSet) -> metrics.ValidationPairs | None:
    """The pairs every epoch's validation scores (None: fewer than two validation faces, no pair)."""
    return metrics.ValidationPairs(val.identities, val.sessions) if len(val) >= 2 else None


def prepare_fold(
    train: FaceSet,
    val: FaceSet | None = None,
    dataset_expressions: set[str] | None = None,
    val_pairs: metrics.ValidationPairs | None = None,
) -> PreparedFold:
    """The prepared fold of these faces; ``val`` None: no validation people. ``val_pairs`` reuses the pairs of
    the same validation faces (a unit job's label sources share their validation people)."""
    if val is None:
        val = train.subset(np.zeros(len(train), dtype=bool))
    return PreparedFold(
        train,
        val,
        val_pairs if val_pairs is not None else validation_pairs(val),
        torch.as_tensor(session_codes(train.identities, train.sessions)),
        None if dataset_expressions is None else frozenset(dataset_expressions),
    )
