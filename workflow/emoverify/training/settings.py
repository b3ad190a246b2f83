"""What one training run reads, typed: the recipe's training knobs (checked with the config, when the workflow is
parsed) and how a run reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from emoverify.losses import LossSettings
from emoverify.progress import EPOCH_LINE_SECONDS
from emoverify.registry import ARCFACE_CENTRES, EARLY_STOPPING_KEYS, RELATIVE_WEIGHT_KEYS
from emoverify.schema import default
from emoverify.vocabulary import EXPRESSIONS

# read by the loop when the recipe does not state them (the workflow's config always does, but leaves the
# relative-weight keys out of an absolute-weight recipe and the early-stopping keys and arcface_centres at their
# defaults out of every recipe: see study.training_recipe)
LIBRARY_DEFAULTS = {
    "validation_figure": "auc",  # a recipe from outside the workflow (the schema's default is a TAR)
    **{key: default("training", key) for key in (*RELATIVE_WEIGHT_KEYS, *EARLY_STOPPING_KEYS, ARCFACE_CENTRES)},
}


@dataclass(frozen=True)
class TrainingSettings:
    """The training loop's share of a training recipe (the config's ``training`` section, as
    ``study.run_training_recipe`` gives it); ``recipe`` keeps the whole mapping for the network builder
    (``model_from_recipe``) and the checkpoint's record. Build it with :meth:`from_recipe`."""

    recipe: Mapping[str, Any] = field(repr=False)
    embedding_dim: int
    batch_identities: int
    images_per_identity: int
    batches_per_epoch: int  # 0: cover the training images about once
    learning_rate: float
    weight_decay: float
    optimizer: str
    patience: int
    validation_figure: str  # what early stopping watches (see loop.early_stopping_score)
    early_stopping: str  # watched: the figure ranks wherever it exists; resolved: only above its start's noise
    min_epochs: int  # epochs before it never ship and do not count toward patience (0: the untrained may ship)
    margin: float
    mining: str
    sampler: str
    arcface_scale: float
    arcface_margin: float
    fbv_scale: float
    augment_flip: bool
    augment_crop: int
    mixed_precision: bool  # on CUDA only
    expression_weights: str  # absolute, or relative to the primary's gradient (training.calibration)
    calibration_batches: int  # the first batches a relative weighting measures on
    arcface_centres: str  # random, or class_means: ArcFace's centres start at the training people's means

    @classmethod
    def from_recipe(cls, recipe: Mapping[str, Any]) -> TrainingSettings:
        """The settings of a recipe; a missing key is named in the error."""
        names = [item.name for item in dataclasses.fields(cls) if item.name != "recipe"]
        values = {**LIBRARY_DEFAULTS, **recipe}
        missing = [name for name in names if name not in values]
        if missing:
            raise ValueError(f"the training recipe lacks {', '.join(missing)}")
        return cls(recipe=dict(recipe), **{name: values[name] for name in names})

    def loss_settings(self, n_identities: int, origin_expression: int | None) -> LossSettings:
        """The settings the objective's loss terms are built from."""
        return LossSettings(
            embedding_dim=self.embedding_dim,
            n_identities=n_identities,
            n_expressions=len(EXPRESSIONS),
            origin_expression=origin_expression,
            margin=self.margin,
            mining=self.mining,
            arcface_scale=self.arcface_scale,
            arcface_margin=self.arcface_margin,
            fbv_scale=self.fbv_scale,
        )


@dataclass(frozen=True)
class Progress:
    """How a run reports: with ``show``, its epochs on ``stream`` (the console; stderr when None) under
    ``run_name`` (a live bar on a terminal, elsewhere a line at most every ``every_seconds``) and a line per
    epoch on stdout (the rule's log); ``on_epoch(history)`` after every epoch (the rule writes history.csv as
    training goes)."""

    show: bool = True
    stream: TextIO | None = None
    run_name: str = "training"
    on_epoch: Callable | None = None
    every_seconds: float = EPOCH_LINE_SECONDS
