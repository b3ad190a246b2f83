"""A new expression loss is one class: registered, the objective trains it, and once the schema's enums are rewritten
(`python -m emoverify.schema`) the config accepts its name."""

from pathlib import Path

import pytest
import torch
import yaml
from demo_runs import TRAINING, make_demo_sets, run

from emoverify import losses, registry, schema, study
from emoverify.losses.base import UNKNOWN, ExpressionLoss, checked_expressions, masked_mean

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


@pytest.fixture
def spread():
    losses.register(Spread)
    yield Spread
    registry.remove_loss(registry.EXPRESSION, Spread.name)


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
