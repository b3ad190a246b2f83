"""The grid on development people, point by point: each candidate's verification on its inner fold's held-out
people and the manipulation check there, and every grid point against its matched baseline.

In a development partition (``partition: development``, ``workflow/presets/recipes/grid_protocol.yaml``) each
inner fold's held-out people validate and nobody is tested. :func:`check_run` embeds a trained candidate's
training and held-out people and records, on the held-out people, the verification figures (AUC, TAR at each
FAR: what early stopping and selection watch) and the manipulation measures of
:mod:`emoverify.evaluation.manipulation` (each expression term and the probe, with the study's true labels;
the probe and CE's net fitted on the training people), beside the run's training facts (with relative
expression weights, the gradient norms measured and the weights trained with). The report's
``grid_points.grid_point_table`` compares every candidate with its matched baseline's configured candidate on the
same fold units.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from emoverify import atomic, metrics
from emoverify.evaluation import manipulation
from emoverify.evaluation.verification import embed_splits, run_fields
from emoverify.layout import Run
from emoverify.model import checkpoint
from emoverify.model.embedding import distance_metric
from emoverify.splits import folds as folds_module

HELD_OUT = "val"  # a development fold's held-out people
MEASURES = (*metrics.VALIDATION_FIGURES, *manipulation.MEASURES)


def held_out_values(embeddings: dict, faces: dict, truth: manipulation.Truth, *, geometry: str, fbv_scale, seed):
    """The verification figures and manipulation measures of one run on its held-out people."""
    held_out = faces[HELD_OUT]
    pairs = metrics.ValidationPairs(held_out.identities, held_out.sessions)
    figures = pairs.figures(embeddings[HELD_OUT], distance_metric(geometry))
    values = {name: float(figures[name]) for name in metrics.VALIDATION_FIGURES}
    splits = {
        split: (embeddings[split], faces[split].identities, truth.codes(faces[split].image_ids))
        for split in ("train", HELD_OUT)
    }
    dim = int(embeddings[HELD_OUT].shape[1])
    settings = manipulation.loss_settings(dim, truth.origin_expression, float(fbv_scale))
    values.update(manipulation.measures(splits["train"], splits[HELD_OUT], settings, seed=seed))
    return values


def check_run(path, run: Run, model_path, load_faces, truth: manipulation.Truth, device) -> dict:
    """Measure one trained candidate (``load_faces(input_size)``: its fold's train and val faces) and write
    its grid_check.json in the metrics.json layout (the runs table reads it); a failed run gets its reason."""
    model, state = checkpoint.load_checkpoint(model_path, device)
    record = {**run_fields(run), "truth": truth.source}
    if model is None:
        record.update(status=f"failed: {state['failed']}", metrics={})
    else:
        faces = load_faces(int(state["training"]["input_size"]))
        embeddings = embed_splits(model, {split: faces[split] for split in ("train", HELD_OUT)}, device)
        values = held_out_values(
            embeddings, faces, truth, geometry=model.geometry, fbv_scale=state["training"]["fbv_scale"], seed=run.seed
        )
        plain = {
            key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in values.items()
        }  # a figure the held-out people cannot give: null
        record.update(status="ok", metrics=plain, training=checkpoint.training_facts(state))
    atomic.write_text(path, json.dumps(record, indent=2, sort_keys=True))
    return record["metrics"]


def held_out_share(folds: pd.DataFrame) -> float:
    """Held-out images / training images of a development partition's inner folds (the corrected t's
    n2/n1; a development fold's held-out people are its validation split)."""
    return folds_module.held_out_share(folds, held_out=HELD_OUT)
