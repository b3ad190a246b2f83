"""Training settings are built once from a checked recipe and give the objective its loss settings; bad values stop
with the config, before."""

from pathlib import Path

import pytest
import yaml
from demo_runs import TRAINING

from emoverify import study
from emoverify.losses import LossSettings
from emoverify.schema import load_schema
from emoverify.training.settings import TrainingSettings

ROOT = Path(__file__).resolve().parents[2]


def test_a_recipe_becomes_typed_settings_and_keeps_the_whole_recipe():
    settings = TrainingSettings.from_recipe(TRAINING)
    assert settings.batch_identities == TRAINING["batch_identities"] and settings.mining == TRAINING["mining"]
    assert settings.recipe == TRAINING and settings.recipe is not TRAINING
    assert settings.validation_figure == "auc"  # the library's default where the recipe is silent


def test_the_loss_settings_carry_the_recipes_loss_knobs():
    settings = TrainingSettings.from_recipe({**TRAINING, "margin": 0.3, "fbv_scale": 2.0, "mining": "semi_hard"})
    assert settings.loss_settings(n_identities=5, origin_expression=None) == LossSettings(
        embedding_dim=TRAINING["embedding_dim"],
        n_identities=5,
        origin_expression=None,
        margin=0.3,
        mining="semi_hard",
        arcface_scale=TRAINING["arcface_scale"],
        arcface_margin=TRAINING["arcface_margin"],
        fbv_scale=2.0,
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"optimizer": "lbfgs"}, "training.optimizer: 'lbfgs' is not one of ['adam', 'adam_fused', 'sgd']"),
        ({"mining": "hardest"}, "training.mining: 'hardest' is not one of ['all', 'batch_hard', 'semi_hard']"),
        ({"sampler": "balanced"}, "training.sampler: 'balanced' is not one of ['random',"),
        ({"validation_figure": "eer"}, "training.validation_figure: 'eer' is not one of ['auc',"),
        ({"expression_weights": "scaled"}, "training.expression_weights: 'scaled' is not one of ['absolute',"),
        ({"early_stopping": "never"}, "training.early_stopping: 'never' is not one of ['watched', 'resolved']"),
        ({"calibration_batches": 0}, "training.calibration_batches: 0 is less than the minimum of 1"),
        ({"patience": 0}, "training.patience: 0 is less than the minimum of 1"),
        ({"batch_identities": 2.5}, "training.batch_identities: 2.5 is not of type 'integer'"),
        ({"learning_rate": float("nan")}, "training.learning_rate: nan is not a finite number"),
    ],
)
def test_bad_values_are_refused_with_the_config_before_any_settings_are_built(change, message):
    """The settings trust their recipe: the config check, when the workflow is parsed, names the key."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["training"] = change
    with pytest.raises(study.ConfigError) as error:
        study.check_schema(config, load_schema())
    assert f"config key {message}" in str(error.value)


def test_a_missing_key_is_named():
    recipe = {key: value for key, value in TRAINING.items() if key not in ("patience", "sampler")}
    with pytest.raises(ValueError, match="lacks patience, sampler"):
        TrainingSettings.from_recipe(recipe)


def test_the_loss_settings_defaults_are_the_config_schemas():
    settings = LossSettings(embedding_dim=8, n_identities=3)
    training = load_schema()["properties"]["training"]["properties"]
    for knob in ("margin", "mining", "arcface_scale", "arcface_margin", "fbv_scale"):
        assert getattr(settings, knob) == training[knob]["default"]
    assert settings.arcface_scale == 30.0 and settings.mining == "all"
