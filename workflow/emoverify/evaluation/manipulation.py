"""The manipulation check of one run: on its fold's unseen test people and their true expression labels, the
geometry each expression term targets, measured the same way for every run (a method and its matched
baseline alike), so that the report can say whether a term changed what it aims at.

- ``pdm``, ``pdp``, ``fbv``: each loss's own term (the loss classes themselves) on the test embeddings;
- ``ce``: the compositional loss on the test embeddings, its composition net fitted on the training
  people's embeddings (the embedding held fixed), since a checkpoint keeps the network only;
- ``mtl`` and ``probe_balanced_accuracy``: one multinomial logistic regression fitted on the training
  people's embeddings; ``mtl`` is the multi-task loss (its cross-entropy) on the test people, the probe's
  balanced expression accuracy the loss-agnostic measure.

Every run gets every measure, whatever its own terms: a side effect on another term's geometry is a finding
too. The labels are the study's true ones (``Truth``), never the run's own (shuffled) source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from emoverify import atomic, registry
from emoverify.evaluation.verification import run_fields
from emoverify.labels.sources import LabelSource
from emoverify.layout import Run
from emoverify.losses import LossSettings, loss_class
from emoverify.losses.base import UNKNOWN
from emoverify.losses.expression.fbv import fbv_origin
from emoverify.losses.expression.mtl import ExpressionClassifier, mtl
from emoverify.splits.fold_data import dataset_expressions, expression_codes, read_table, train_ids
from emoverify.vocabulary import EXPRESSIONS

TERMS = ("pdm", "pdp", "fbv", "ce", "mtl")  # the expression losses, each measured with its own term
PROBE = "probe_balanced_accuracy"
MEASURES = (*TERMS, PROBE)
# the composition net's fit: Adam on batches of whole people for a fixed budget, the same for every run
CE_STEPS = 200
CE_LEARNING_RATE = 0.01
CE_BATCH_FACES = 256
PROBE_MAX_ITER = 2000
UNSEEN_LOGIT = -1e9  # an expression no training face shows: the probe gives it no probability


@dataclass(frozen=True)
class Truth:
    """The study's true expression labels: image_id -> canonical expression ("" unknown), the source they
    come from (manual, or detected for a dataset without manual labels) and FBV's origin expression."""

    expressions: pd.Series
    source: str
    origin_expression: int | None

    def codes(self, image_ids) -> np.ndarray:
        return expression_codes(self.expressions.reindex(list(image_ids)).fillna("").tolist())


def _tensor(values, dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values), dtype=dtype)


def identity_codes(identities) -> torch.Tensor:
    """Identity names as integer codes (the losses read codes)."""
    return torch.from_numpy(np.unique(np.asarray(identities), return_inverse=True)[1].astype(np.int64))


def pure_term(name: str, emb, identities, emo, settings: LossSettings) -> float:
    """An expression loss that is a function of (embedding, identity, expression) alone, on these
    embeddings and labels, without a gradient."""
    term = loss_class(registry.EXPRESSION, name)(settings).double()
    with torch.no_grad():
        return float(term(_tensor(emb), identity_codes(identities), torch.as_tensor(emo, dtype=torch.long)))


def fitted_composition(train_emb, identities, emo, settings: LossSettings, *, seed: int = 0):
    """The CE loss with its composition net fitted on fixed training embeddings: CE_STEPS of Adam, each on
    the faces of people drawn at random until CE_BATCH_FACES (all of them when fewer), from a seeded start;
    the caller's random state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        term = loss_class(registry.EXPRESSION, "ce")(settings)
    emb, ids, codes = _tensor(train_emb, torch.float32), identity_codes(identities), torch.as_tensor(emo)
    members = [np.flatnonzero(ids.numpy() == person) for person in range(int(ids.max()) + 1)] if len(ids) else []
    draws = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(term.parameters(), lr=CE_LEARNING_RATE)
    for _ in range(CE_STEPS):
        batch = torch.from_numpy(people_batch(members, draws, CE_BATCH_FACES))
        optimizer.zero_grad()
        loss = term(emb[batch], ids[batch], codes[batch])
        if not loss.requires_grad:  # no cross-expression pair: nothing to fit
            break
        loss.backward()
        optimizer.step()
    return term


def people_batch(members: list[np.ndarray], draws: np.random.Generator, faces: int) -> np.ndarray:
    """The faces of people taken in a random order until at least ``faces`` (everyone's when fewer)."""
    taken, count = [], 0
    for person in draws.permutation(len(members)):
        taken.append(members[person])
        count += len(members[person])
        if count >= faces:
            break
    return np.sort(np.concatenate(taken)) if taken else np.zeros(0, dtype=np.int64)


def composition_term(train, test, settings: LossSettings, *, seed: int = 0) -> float:
    """``ce`` on the test people with the composition net fitted on the training people; ``train`` and
    ``test`` are (embeddings, identities, codes)."""
    term = fitted_composition(*train, settings, seed=seed)
    with torch.no_grad():
        emb, identities, emo = test
        return float(term(_tensor(emb, torch.float32), identity_codes(identities), torch.as_tensor(emo)))


def fit_probe(train_emb, emo, *, seed: int = 0) -> LogisticRegression | None:
    """Multinomial logistic regression of the known training expressions; None with fewer than two."""
    known = np.asarray(emo) != UNKNOWN
    if len(np.unique(np.asarray(emo)[known])) < 2:
        return None
    probe = LogisticRegression(max_iter=PROBE_MAX_ITER, random_state=seed)
    return probe.fit(np.asarray(train_emb, dtype=np.float64)[known], np.asarray(emo)[known])


def probe_classifier(probe: LogisticRegression, n_expressions: int) -> ExpressionClassifier:
    """The probe as the MTL loss's classifier: its weights in the rows of the expressions it saw, every other
    expression's logit so low it gets no probability."""
    dim = probe.coef_.shape[1]
    classifier = ExpressionClassifier(dim, n_expressions).double()
    weight = torch.zeros(n_expressions, dim, dtype=torch.float64)
    bias = torch.full((n_expressions,), UNSEEN_LOGIT, dtype=torch.float64)
    weight[probe.classes_] = torch.from_numpy(probe.coef_)
    bias[probe.classes_] = torch.from_numpy(probe.intercept_)
    with torch.no_grad():
        classifier.linear.weight.copy_(weight)
        classifier.linear.bias.copy_(bias)
    return classifier


def probe_measures(train_emb, train_emo, test_emb, test_emo, n_expressions: int, *, seed: int = 0) -> dict:
    """``mtl`` (the probe's cross-entropy) and the probe's balanced accuracy on the test faces whose expression
    the training faces show (an expression no training face shows cannot be predicted, so it is left out)."""
    probe = fit_probe(train_emb, train_emo, seed=seed)
    if probe is None:
        return {"mtl": None, PROBE: None, "n_test_probed": 0}
    test_emo = np.asarray(test_emo)
    scored = np.isin(test_emo, probe.classes_)
    if not scored.any():
        return {"mtl": None, PROBE: None, "n_test_probed": 0}
    classifier = probe_classifier(probe, n_expressions)
    emo = np.where(scored, test_emo, UNKNOWN)
    with torch.no_grad():
        loss = float(mtl(_tensor(test_emb), torch.from_numpy(emo), classifier))
    predicted = probe.predict(np.asarray(test_emb, dtype=np.float64)[scored])
    accuracy = float(balanced_accuracy_score(test_emo[scored], predicted))
    return {"mtl": loss, PROBE: accuracy, "n_test_probed": int(scored.sum())}


def measures(train, test, settings: LossSettings, *, seed: int = 0) -> dict:
    """Every measure of one run: ``train`` and ``test`` are (embeddings, identity names, true codes)."""
    values: dict = {name: pure_term(name, *test, settings) for name in ("pdm", "pdp")}
    try:
        values["fbv"] = pure_term("fbv", *test, settings)
    except ValueError as error:  # an embedding too small for FBV's basis vectors
        values["fbv"], values["notes"] = None, [f"fbv not measured: {error}"]
    values["ce"] = composition_term(train, test, settings, seed=seed)
    values.update(probe_measures(train[0], train[2], test[0], test[2], settings.n_expressions, seed=seed))
    values["n_train_labelled"] = int((np.asarray(train[2]) != UNKNOWN).sum())
    values["n_test_labelled"] = int((np.asarray(test[2]) != UNKNOWN).sum())
    return values


def loss_settings(embedding_dim: int, origin_expression: int | None, fbv_scale: float) -> LossSettings:
    """What the measured terms are built from (FBV's offsets: the run's scale, the dataset's origin)."""
    return LossSettings(
        embedding_dim=embedding_dim,
        n_identities=1,
        n_expressions=len(EXPRESSIONS),
        origin_expression=origin_expression,
        fbv_scale=fbv_scale,
    )


def measure_run(embeddings: dict, faces: dict, truth: Truth, *, fbv_scale: float, seed: int) -> dict:
    """The measures of one run from its train and test embeddings and faces, with the true labels."""
    splits = {
        split: (embeddings[split], faces[split].identities, truth.codes(faces[split].image_ids))
        for split in ("train", "test")
    }
    dim = int(np.asarray(embeddings["test"]).shape[1])
    return measures(splits["train"], splits["test"], loss_settings(dim, truth.origin_expression, fbv_scale), seed=seed)


def write_record(path, run: Run, *, truth_source: str, values: dict, status: str = "ok") -> None:
    """A run's manipulation.json, in the metrics.json layout (the runs table reads both alike)."""
    plain = {
        key: (None if isinstance(value, float) and not np.isfinite(value) else value) for key, value in values.items()
    }
    record = {**run_fields(run), "status": status, "truth": truth_source, "metrics": plain}
    atomic.write_text(path, json.dumps(record, indent=2, sort_keys=True))


def check_run(path, run: Run, embeddings: dict, faces: dict, truth: Truth, recipe: dict) -> dict:
    """Measure one scored run (``recipe``: its checkpoint's training recipe) and write its manipulation.json."""
    fbv_scale = float(recipe["fbv_scale"])  # every recipe carries it (the schema's default, TrainingSettings)
    values = measure_run(embeddings, faces, truth, fbv_scale=fbv_scale, seed=run.seed)
    write_record(path, run, truth_source=truth.source, values=values)
    return values


def study_truth(
    manifest_path, truth_params: dict, detected_path=None, *, folds_path=None, repeat: int = 0, fold: int = 0
) -> Truth:
    """The study's true labels from an evaluate rule's files: ``truth_params`` (study.true_label_params) name
    the source, manual or, for a dataset without manual labels, detected (its table at ``detected_path``); where
    min_expression_images counts on each fold's training people, on those of fold unit (``repeat``, ``fold``) of
    the folds at ``folds_path``."""
    manifest = read_table(manifest_path)
    detected = read_table(detected_path) if detected_path else None
    label_source = LabelSource.from_params(truth_params)
    if label_source.name == registry.DETECTED and detected is None:
        raise ValueError(
            "the manipulation check's true labels are the detected ones, but the evaluate rule was given no "
            "detected-label table; add the labels stage's detected file to its inputs"
        )
    training = None
    if label_source.counts_per_fold:
        if folds_path is None:
            raise ValueError("the true labels count min_expression_images on a fold's training people: pass folds_path")
        training = train_ids(read_table(folds_path), repeat, fold)
    expressions = label_source.base_expressions(manifest, detected, training)
    origin = fbv_origin(dataset_expressions(manifest_path))
    return Truth(expressions, label_source.name, origin)
