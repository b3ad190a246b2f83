"""Training settings are built once from a recipe, checked there, and give the objective its loss settings."""

import pytest
from demo_runs import TRAINING

from emoverify.losses import LossSettings
from emoverify.training.settings import TrainingSettings


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
        ({"optimizer": "lbfgs"}, "unknown training optimizer 'lbfgs'; allowed: adam, adam_fused, sgd"),
        ({"mining": "hardest"}, "unknown training mining"),
        ({"sampler": "balanced"}, "unknown training sampler"),
        ({"validation_figure": "eer"}, "unknown validation figure 'eer'"),
        ({"patience": 0}, "patience must be a whole number >= 1"),
        ({"batch_identities": 2.5}, "batch_identities must be a whole number"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ],
)
def test_bad_values_are_refused_when_built(change, message):
    with pytest.raises(ValueError, match=message):
        TrainingSettings.from_recipe({**TRAINING, **change})


def test_a_missing_key_is_named():
    recipe = {key: value for key, value in TRAINING.items() if key not in ("patience", "sampler")}
    with pytest.raises(ValueError, match="lacks patience, sampler"):
        TrainingSettings.from_recipe(recipe)


def test_loss_settings_refuse_an_unknown_mining_and_a_bad_size():
    with pytest.raises(ValueError, match="allowed: all, batch_hard, semi_hard"):
        LossSettings(embedding_dim=8, n_identities=3, mining="hardest")
    with pytest.raises(ValueError, match="embedding_dim must be a whole number >= 1"):
        LossSettings(embedding_dim=0, n_identities=3)
