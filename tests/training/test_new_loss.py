"""A new expression loss is one class: registered, the objective trains it, the pair counts count it and its
session option works, with no other module touched; once the schema's enums are rewritten
(`python -m emoverify.schema`) the config accepts its name."""

import contextlib
import io
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from demo_runs import TRAINING, make_demo_sets, run

from emoverify import losses, registry, schema, study
from emoverify.losses.base import (
    SAME_EXPRESSION,
    UNKNOWN,
    ExpressionLoss,
    LossSettings,
    checked_expressions,
    masked_mean,
    pairwise_sq_distances,
)
from emoverify.training import jobs, pair_counts
from emoverify.training.objective import CombinedObjective

ROOT = Path(__file__).resolve().parents[2]
BASELINE = {"primary": "triplet", "geometry": "euclidean"}
WITH_TOY = {**BASELINE, "aux": {"spread": 0.5}}


class Spread(ExpressionLoss):
    """A toy loss: the mean squared norm of the labelled embeddings (it pulls them to the origin)."""

    name = "spread"

    def forward(self, emb, ids, emo):
        emo = checked_expressions(emb, emo)
        return masked_mean(emb.pow(2).sum(1), emo != UNKNOWN)

    @staticmethod
    def count_pairs(ids, emo) -> int:
        return int((torch.as_tensor(emo) != UNKNOWN).sum())


class Pull(ExpressionLoss):
    """A toy loss built on same-expression pairs, with a session option: the mean squared distance over the
    pairs of one identity and one known expression (PDM's idea, written with the B x B pair matrix)."""

    name = "pull"
    built_on = SAME_EXPRESSION
    session_option = "pull_exclude_same_session"

    @staticmethod
    def pairs(ids, emo, sessions=None):
        ids, emo = torch.as_tensor(ids), torch.as_tensor(emo)
        eye = torch.eye(len(ids), dtype=torch.bool, device=ids.device)
        known = emo != UNKNOWN
        mask = (ids[:, None] == ids[None, :]) & (emo[:, None] == emo[None, :]) & known[:, None] & ~eye
        if sessions is not None:
            sessions = torch.as_tensor(sessions, device=ids.device)
            mask &= sessions[:, None] != sessions[None, :]
        return mask

    def forward(self, emb, ids, emo):
        return masked_mean(pairwise_sq_distances(emb), self.pairs(ids, emo))

    @staticmethod
    def count_pairs(ids, emo) -> int:
        return int(Pull.pairs(ids, emo).sum()) // 2

    def across_sessions(self, emb, ids, emo, sessions):
        return masked_mean(pairwise_sq_distances(emb), self.pairs(ids, emo, sessions))

    @staticmethod
    def count_pairs_across_sessions(ids, emo, sessions) -> int:
        return int(Pull.pairs(ids, emo, sessions).sum()) // 2


@pytest.fixture
def spread():
    losses.register(Spread)
    yield Spread
    registry.remove_loss(registry.EXPRESSION, Spread.name)


@pytest.fixture
def pull():
    losses.register(Pull)
    yield Pull
    registry.remove_loss(registry.EXPRESSION, Pull.name)


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    return make_demo_sets(tmp_path_factory)


def config_with_toy_method() -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["methods"]["tl_spread"] = WITH_TOY
    config["run_methods"] = ["tl_euclidean", "tl_spread"]
    return config


def checked(config: dict, schema_path: Path = schema.SCHEMA_PATH) -> dict:
    """The Snakefile's checks, in its order."""
    loaded = schema.load_schema(schema_path)
    config = study.coerce_to_schema(config, loaded)
    study.check_schema(config, loaded)
    schema.fill_defaults(config, schema_path)
    study.check_study(config)
    return config


def test_an_unregistered_loss_is_refused_by_name():
    with pytest.raises(study.ConfigError, match="spread"):
        checked(config_with_toy_method())


def test_the_config_check_accepts_a_registered_loss_once_the_schema_names_it(spread, tmp_path):
    assert "spread" in registry.expression_losses()
    with pytest.raises(study.ConfigError, match="aux.spread"):
        checked(config_with_toy_method())  # the schema file's enums were written without it
    rewritten = tmp_path / "config.schema.yaml"
    rewritten.write_text(schema.with_registry_enums(schema.SCHEMA_PATH.read_text()))
    config = checked(config_with_toy_method(), rewritten)
    assert registry.needs_expressions(config["methods"]["tl_spread"])
    planned = {(run.method, run.label_source) for run in study.planned_runs(config)}
    assert {("tl_spread", source) for source in config["label_sources"]} <= planned
    assert ("tl_euclidean", registry.NO_LABELS) in planned  # its matched baseline, which reads no labels


def test_a_registered_loss_trains_through_the_objective(spread, demo_sets):
    one_step = {**TRAINING, "batches_per_epoch": 1}
    trained = run(demo_sets, method=WITH_TOY, epochs=1, training=one_step)
    baseline = run(demo_sets, method=BASELINE, epochs=1, training=one_step)
    history = trained.history.iloc[0]
    assert history["spread"] > 0 and history["total"] > history["triplet"]
    assert trained.pairs_seen == {"spread": int(history["pairs_spread"])}
    assert history["pairs_spread"] == TRAINING["batch_identities"] * TRAINING["images_per_identity"]
    one, other = trained.model.state_dict(), baseline.model.state_dict()
    assert any(not torch.equal(one[key], other[key]) for key in one), "the toy term changed the step"


def test_a_loss_class_needs_a_name_and_a_kind():
    class Nameless(ExpressionLoss):
        pass

    with pytest.raises(ValueError, match="name"):
        losses.register(Nameless)
    with pytest.raises(TypeError, match="neither"):
        losses.register(dict)
    with pytest.raises(ValueError, match="already"):
        losses.register(type("Again", (ExpressionLoss,), {"name": "pdm"}))


def loop_pairs(identities, sessions, expressions):
    """Same-person same-expression pairs, and how many share a known session, by a loop over the images."""
    pairs = shared = 0
    for i, j in combinations(range(len(identities)), 2):
        if identities[i] == identities[j] and expressions[i] == expressions[j] >= 0:
            pairs += 1
            shared += sessions[i] != "" and sessions[i] == sessions[j]
    return pairs, shared


@pytest.mark.parametrize("draw", range(3))
def test_the_pair_counts_count_a_registered_loss_from_its_own_declarations(pull, draw):
    rng = np.random.default_rng(draw)
    identities = [f"p{k}" for k in rng.integers(0, 4, 30)]
    sessions = [f"{p}_{k}" if rng.random() > 0.2 else "" for p, k in zip(identities, rng.integers(0, 3, 30))]
    expressions = rng.integers(-1, 3, 30)
    table = pair_counts.loss_pairs(identities, sessions, expressions).set_index("loss")
    pairs, shared = loop_pairs(identities, sessions, expressions)
    assert "pull" in table.index  # every expression loss of the registry, the registered one included
    assert table.loc["pull", "pairs"] == table.loc["pull", "person_pairs"] == pairs
    assert table.loc["pull", "same_session_pairs"] == shared
    assert table.loc["pull", "person_pairs"] == table.loc["pdm", "person_pairs"]  # the same pairs as PDM's


def test_a_registered_loss_that_cannot_test_its_idea_is_flagged_unless_its_session_option_is_set(pull, demo_sets):
    train = demo_sets["train"]
    sessions = np.array([f"{identity}_{code}" for identity, code in zip(train.identities, train.expressions)])
    single = replace(train, sessions=sessions)  # every same-label pair is one session
    method = {**BASELINE, "aux": {"pull": 0.5}}
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert jobs.flag_single_session_losses(single, method) == ["pull"]
        assert jobs.flag_single_session_losses(single, {**method, "pull_exclude_same_session": True}) == []
    assert "pull cannot test its idea on this data" in buffer.getvalue()


def test_a_registered_session_option_reaches_the_objective_and_the_training(pull, demo_sets):
    rng = np.random.default_rng(0)
    n = 24
    identities = rng.integers(0, 4, n)
    sessions = [f"{p}_{k}" for p, k in zip(identities, rng.integers(0, 2, n))]
    codes = torch.as_tensor(pair_counts.session_codes(identities, sessions))
    ids, emo = torch.as_tensor(identities), torch.as_tensor(rng.integers(-1, 3, n))
    emb = torch.as_tensor(rng.normal(size=(n, 5)), dtype=torch.float32)
    distances = [
        float(((emb[i] - emb[j]) ** 2).sum())
        for i, j in combinations(range(n), 2)
        if ids[i] == ids[j] and emo[i] == emo[j] >= 0 and sessions[i] != sessions[j]
    ]
    method = {**BASELINE, "aux": {"pull": 1.0}, "pull_exclude_same_session": True}
    assert losses.across_session_terms(method) == ("pull",)
    objective = CombinedObjective(
        "triplet", method["aux"], LossSettings(embedding_dim=5, n_identities=4), across_sessions=("pull",)
    )
    assert objective.needs_sessions
    _, terms = objective(emb, ids, emo, codes)
    assert terms["pull"] == pytest.approx(np.mean(distances), rel=1e-5)
    assert objective.pairs_used(ids, emo, codes) == {"pairs_pull": len(distances)}

    train = demo_sets["train"]
    # the pairs of even expression codes span two sessions, those of odd codes share one
    sessions = [
        f"{identity}_{index % 2 if code % 2 == 0 else 0}"
        for index, (identity, code) in enumerate(zip(train.identities, train.expressions))
    ]
    faces = {**demo_sets, "train": replace(train, sessions=np.array(sessions))}
    across = run(faces, method=method, epochs=1).history.iloc[0]
    within = run(faces, method={**method, "pull_exclude_same_session": False}, epochs=1)
    within = within.history.iloc[0]
    assert 0 < across["pairs_pull"] < within["pairs_pull"]  # the same batches, without their same-session pairs
    assert across["pull"] != within["pull"]


def test_a_loss_class_must_declare_pairs_and_session_options_the_training_can_use():
    with pytest.raises(ValueError, match="built_on must be one of"):
        losses.register(type("Odd", (ExpressionLoss,), {"name": "odd", "built_on": "triples"}))
    with pytest.raises(TypeError, match="no across_sessions"):
        losses.register(type("Half", (ExpressionLoss,), {"name": "half", "session_option": "half_exclude"}))
    assert "odd" not in registry.expression_losses() and "half" not in registry.expression_losses()


def test_every_session_option_of_a_shipped_loss_is_a_method_key_of_the_schema():
    keys = schema.load_schema()["properties"]["methods"]["additionalProperties"]["properties"]
    options = {losses.loss_class(registry.EXPRESSION, name).session_option for name in registry.expression_losses()} - {
        None
    }
    assert options == {"pdm_exclude_same_session"}
    for option in options:
        assert keys[option]["type"] == "boolean"
