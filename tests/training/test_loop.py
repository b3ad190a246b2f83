"""Training one run on the built-in demo drawings."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from demo_runs import FBV, TRAINING, TRIPLET, make_demo_sets, run

from emoverify import metrics, study
from emoverify.model import checkpoint
from emoverify.model.embedding import embed
from emoverify.model.networks import model_from_recipe
from emoverify.registry import EARLY_STOPPING_MODES
from emoverify.schema import load_schema
from emoverify.training import loop
from emoverify.training.fold import prepare_fold
from emoverify.training.settings import TrainingSettings

SETTINGS = TrainingSettings.from_recipe(TRAINING)


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    return make_demo_sets(tmp_path_factory)


def test_training_lowers_the_loss_and_beats_chance_on_validation(demo_sets):
    result = run(demo_sets, epochs=6)
    history = result.history
    assert history["total"].iloc[-1] < history["total"].iloc[0]
    assert result.best_val_auc > 0.6
    assert {"epoch", "total", "triplet", "val_auc", "seconds"} <= set(history.columns)


def test_same_seed_gives_the_same_model_on_cpu(demo_sets):
    first, second = run(demo_sets, epochs=2, seed=5), run(demo_sets, epochs=2, seed=5)
    pd.testing.assert_frame_equal(first.history.drop(columns="seconds"), second.history.drop(columns="seconds"))
    other = run(demo_sets, epochs=2, seed=6)
    assert not np.allclose(first.history["total"], other.history["total"])


def test_checkpoint_reloads_to_the_same_embeddings(demo_sets, tmp_path):
    result = run(demo_sets, method=FBV, epochs=1)
    path = tmp_path / "model.pt"
    checkpoint.save_checkpoint(path, result, method=FBV, training=TRAINING, extra={"fold": 0})
    reloaded, state = checkpoint.load_checkpoint(path, torch.device("cpu"))
    device = torch.device("cpu")
    images = demo_sets["test"].images
    np.testing.assert_allclose(embed(reloaded, images, device), embed(result.model, images, device))
    assert reloaded.geometry == "euclidean" and state["fold"] == 0


def test_expression_losses_without_any_label_stop_with_a_clear_message(demo_sets):
    unlabelled = replace(demo_sets["train"], expressions=np.full(len(demo_sets["train"]), -1))
    with pytest.raises(loop.TrainingDataError, match="confidence_threshold"):
        run(demo_sets, method=FBV, epochs=1, train_set=unlabelled)


def test_augmentation_keeps_shape_and_can_be_switched_off():
    images = torch.randint(0, 255, (5, 3, 16, 16), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(loop.augment(images, False, 0, generator), images)
    shifted = loop.augment(images, True, 3, generator)
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    assert not torch.equal(shifted, images)


def test_flip_averaged_spherical_embeddings_stay_on_the_sphere(demo_sets):
    torch.manual_seed(0)
    model = model_from_recipe({**TRAINING, "embedding_dim": 8, "width": 4}, "spherical")
    embedding = embed(model, demo_sets["test"].images, torch.device("cpu"))
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)


def test_batches_shrink_to_the_identities_a_small_fold_has(demo_sets, capsys):
    training = {**TRAINING, "batch_identities": 50, "batches_per_epoch": 2}
    result = run(demo_sets, epochs=1, training=training)
    assert len(result.history) == 1
    assert "batches of 8 identities instead of 50" in capsys.readouterr().out


def batches_and_augmentation(setup, train_set, epochs=2):
    """The batch indices of the first epochs and the first augmentation draw of a set-up."""
    drawn = []
    for epoch in range(1, epochs + 1):
        setup.sampler.set_epoch(epoch)
        drawn += [list(batch) for batch in setup.sampler]
    return drawn, loop.augment(train_set.images[:4], True, 2, setup.generator)


def test_every_method_and_label_source_trains_on_identical_batches(demo_sets):
    """Only the objective differs: the baseline, an auxiliary method with manual labels and one with its labels
    shuffled draw the same batches and the same augmentation for a seed."""
    base = demo_sets["train"]
    shuffled = replace(base, expressions=np.random.default_rng(0).permutation(base.expressions))
    device = torch.device("cpu")
    draws = []
    for method, faces in ((TRIPLET, base), (FBV, base), (FBV, shuffled)):
        setup = loop.set_up_training(prepare_fold(faces), method=method, settings=SETTINGS, seed=3, device=device)
        draws.append(batches_and_augmentation(setup, faces))
    for batches, augmented in draws[1:]:
        assert batches == draws[0][0]
        assert torch.equal(augmented, draws[0][1])


@pytest.mark.parametrize("sampler", ["expression_spread", "expression_pairs"])
def test_expression_samplers_use_the_study_batch_labels_not_the_run_labels(demo_sets, sampler):
    base = demo_sets["train"]
    batch_labels = base.manual_expressions.copy()
    runs = []
    for expressions in (base.manual_expressions, np.full(len(base), -1)):  # a labelled run and the baseline
        faces = replace(base, expressions=expressions, batch_expressions=batch_labels)
        setup = loop.set_up_training(
            prepare_fold(faces),
            method=TRIPLET,
            settings=TrainingSettings.from_recipe({**TRAINING, "sampler": sampler}),
            seed=1,
            device=torch.device("cpu"),
        )
        runs.append(batches_and_augmentation(setup, faces)[0])
    assert runs[0] == runs[1]
    random_setup = loop.set_up_training(
        prepare_fold(base), method=TRIPLET, settings=SETTINGS, seed=1, device=torch.device("cpu")
    )
    assert batches_and_augmentation(random_setup, base)[0] != runs[0]


def test_history_counts_the_pairs_each_expression_loss_used(demo_sets):
    result = run(demo_sets, method=FBV, epochs=2)
    assert {"pairs_fbv", "pairs_pdp"} <= set(result.history.columns)
    assert (result.history["pairs_fbv"] > 0).all() and result.pairs_seen["fbv"] == result.history["pairs_fbv"].sum()
    assert result.epochs_run == 2


def test_fbv_origin_is_one_per_dataset_whatever_the_label_source():
    assert loop.fbv_origin({"anger", "neutral", "happiness"}) == loop.NEUTRAL
    assert loop.fbv_origin({"anger", "contempt", "happiness"}) is None  # CK+48: no neutral faces
    assert loop.fbv_origin(set()) == loop.NEUTRAL  # no manual labels: fer's classes include neutral


def test_without_a_validation_split_no_validation_auc_is_logged_or_saved(demo_sets, tmp_path, capsys):
    no_val = demo_sets["val"].subset(np.zeros(len(demo_sets["val"]), dtype=bool))
    result = loop.train_model(
        prepare_fold(demo_sets["train"], no_val),
        method=FBV,
        settings=SETTINGS,
        epochs=2,
        seed=0,
        device=torch.device("cpu"),
    )
    assert np.isnan(result.best_val_auc)
    assert result.selection == "lowest training loss (no validation split, so no validation AUC)"
    assert "val_auc" not in capsys.readouterr().out
    path = tmp_path / "model.pt"
    checkpoint.save_checkpoint(path, result, method=FBV, training=TRAINING, extra={})
    assert "best_val_auc" not in torch.load(path, weights_only=True)
    with_val = run(demo_sets, epochs=1)
    assert with_val.selection.startswith("validation AUC 0.")


def test_early_stopping_keeps_the_epoch_with_the_best_watched_figure(demo_sets):
    watched = {**TRAINING, "validation_figure": "tar_at_far_1e-1", "patience": 10}
    result = run(demo_sets, epochs=4, training=watched)
    history = result.history
    assert {"val_auc", "val_tar_at_far_1e-1", "val_tar_at_far_1e-2"} <= set(history.columns)
    column = history["val_tar_at_far_1e-1"]
    best = history[column == column.max()]
    kept = best.loc[best["val_auc"].idxmax()]  # ties on the figure go to the higher AUC
    assert result.best_epoch == int(kept["epoch"])
    assert result.validation_figure == "tar_at_far_1e-1" and result.best_val_figure == column.max()


def test_early_stopping_score_ranks_by_the_figure_then_auc_then_loss():
    figures = {"auc": 0.9, "tar_at_far_1e-2": 0.4}
    assert loop.early_stopping_score(figures, "tar_at_far_1e-2", 1.0) == ("tar_at_far_1e-2", (0.4, 0.9))
    assert loop.early_stopping_score(figures, "tar_at_far_1e-2", 1.0) > loop.early_stopping_score(
        {"auc": 0.8, "tar_at_far_1e-2": 0.4}, "tar_at_far_1e-2", 1.0
    )
    nan = float("nan")
    assert loop.early_stopping_score({"auc": 0.7, "tar_at_far_1e-2": nan}, "tar_at_far_1e-2", 1.0)[0] == "auc"
    assert loop.early_stopping_score({"auc": nan, "tar_at_far_1e-2": nan}, "auc", 2.0) == ("loss", (-2.0, -2.0))
    with pytest.raises(ValueError, match="unknown validation figure"):
        metrics.history_column("accuracy")


def scripted_run(monkeypatch, demo_sets, script, n_positive=400, **training):
    """A run whose validation figures are ``script``'s rows in turn (epoch 0 first where the loop evaluates it)
    and whose epochs train nothing: what early stopping does with a given history, nothing else."""
    figures = iter(script)
    monkeypatch.setattr(loop, "validation_figures", lambda *args, **kwargs: dict(next(figures)))
    monkeypatch.setattr(loop, "train_one_epoch", lambda *args, **kwargs: {"total": 1.0})
    recipe = {**TRAINING, "validation_figure": "tar_at_far_1e-2", "patience": 3, **training}
    return loop.train_model(
        prepare_fold(demo_sets["train"], demo_sets["val"], val_pairs=SimpleNamespace(n_positive=n_positive)),
        method=TRIPLET,
        settings=TrainingSettings.from_recipe(recipe),
        epochs=len(script) - (recipe.get("early_stopping") == "resolved"),
        seed=0,
        device=torch.device("cpu"),
        progress=loop.Progress(show=False),
    )


def figures(tar, auc):
    return {"auc": auc, "tar_at_far_1e-1": float("nan"), "tar_at_far_1e-2": tar}


# from scratch on lfw_emotion: TAR at FAR 1e-2 wanders at its floor while AUC rises every epoch
FLOOR_TARS = [0.04, 0.06, 0.04, 0.05, 0.04, 0.05, 0.04, 0.05, 0.04]  # the first: the untrained network
RISING_AUCS = [0.55, 0.60, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66, 0.67]
AT_FLOOR = [figures(tar, auc) for tar, auc in zip(FLOOR_TARS, RISING_AUCS)]


def test_resolved_early_stopping_ranks_by_auc_while_the_tar_sits_at_its_floor(monkeypatch, demo_sets):
    result = scripted_run(monkeypatch, demo_sets, AT_FLOOR, early_stopping="resolved")
    assert result.epochs_run == 8 and result.best_epoch == 8  # patience never ran out: AUC rose every epoch
    assert result.validation_figure == "auc" and result.best_val_figure == 0.67
    history = result.history
    assert history["epoch"].tolist() == list(range(9))  # epoch 0 measured as the bar, not a candidate
    assert history.loc[history["shipped"], "epoch"].tolist() == [8]


def test_the_watched_figure_at_its_floor_stops_training_by_default(monkeypatch, demo_sets):
    """The committed studies' behaviour (no early_stopping key): the noise peak at epoch 1 ships, and patience
    3 ends the run at epoch 4 although AUC still rises; fails if the default became ``resolved``."""
    result = scripted_run(monkeypatch, demo_sets, AT_FLOOR[1:])
    assert result.best_epoch == 1 and result.epochs_run == 4
    assert result.validation_figure == "tar_at_far_1e-2" and result.best_val_figure == 0.06
    assert 0 not in result.history["epoch"].tolist()  # from scratch the untrained network is not scored


def test_a_tar_that_clears_its_starting_noise_ranks_above_any_auc(monkeypatch, demo_sets):
    script = [*AT_FLOOR[:4], figures(0.20, 0.62), figures(0.12, 0.70), figures(0.05, 0.80), figures(0.05, 0.81)]
    result = scripted_run(monkeypatch, demo_sets, script, early_stopping="resolved")
    assert result.best_epoch == 4 and result.validation_figure == "tar_at_far_1e-2"
    assert result.best_val_figure == 0.20 and result.best_val_auc == 0.62
    assert result.epochs_run == 7  # epochs 5-7 never beat it: patience 3


def test_the_resolution_bar_is_two_standard_errors_of_a_difference_of_two_tars():
    assert loop.resolution_bar("tar_at_far_1e-2", 0.04, 400) == pytest.approx(0.04 + 2 * (2 * 0.04 * 0.96 / 400) ** 0.5)
    assert loop.resolution_bar("tar_at_far_1e-2", 0.0, 100) == pytest.approx(2 * (2 * 0.01 * 0.99 / 100) ** 0.5)
    assert loop.resolution_bar("tar_at_far_1e-2", 1.0, 100) > 1.0  # a start at the ceiling is never beaten
    assert loop.resolution_bar("auc", 0.7, 400) == -np.inf
    assert np.isnan(loop.resolution_bar("tar_at_far_1e-2", float("nan"), 400))
    assert np.isnan(loop.resolution_bar("tar_at_far_1e-2", 0.5, 1))


def test_resolved_scores_put_every_resolved_epoch_first_then_auc_then_loss():
    bar = 0.07
    cleared = loop.early_stopping_score({"auc": 0.6, "tar_at_far_1e-2": 0.08}, "tar_at_far_1e-2", 1.0, bar)
    floor = loop.early_stopping_score({"auc": 0.9, "tar_at_far_1e-2": 0.07}, "tar_at_far_1e-2", 1.0, bar)
    assert cleared == ("tar_at_far_1e-2", (1.0, 0.08, 0.6)) and floor == ("auc", (0.0, 0.9, 0.9))
    assert cleared > floor
    nan = float("nan")
    assert loop.early_stopping_score({"auc": 0.7, "tar_at_far_1e-2": 0.9}, "tar_at_far_1e-2", 1.0, nan)[0] == "auc"
    no_validation = {"auc": nan, "tar_at_far_1e-2": nan}
    assert loop.early_stopping_score(no_validation, "tar_at_far_1e-2", 2.0, nan) == ("loss", (0.0, -2.0, -2.0))


def test_epochs_before_min_epochs_never_ship_nor_spend_patience(monkeypatch, demo_sets):
    falling = [figures(0.5 - 0.05 * epoch, 0.9 - 0.01 * epoch) for epoch in range(1, 9)]  # epoch 1 is best
    result = scripted_run(monkeypatch, demo_sets, falling, min_epochs=3)
    assert result.best_epoch == 3 and result.epochs_run == 6  # epochs 4-6 spend the patience of 3
    assert result.best_val_figure == pytest.approx(0.35)
    with pytest.raises(ValueError, match=r"training.min_epochs \(9\) exceeds the epochs cap \(8\)"):
        scripted_run(monkeypatch, demo_sets, falling, min_epochs=9)


def test_the_early_stopping_defaults_are_the_committed_studies_behaviour():
    schema = load_schema()["properties"]["training"]["properties"]
    assert schema["early_stopping"]["default"] == "watched" and schema["min_epochs"]["default"] == 0
    assert tuple(schema["early_stopping"]["enum"]) == EARLY_STOPPING_MODES
    settings = TrainingSettings.from_recipe(TRAINING)  # a recipe without the keys: the library's defaults
    assert (settings.early_stopping, settings.min_epochs) == ("watched", 0)
    defaults = {key: schema[key]["default"] for key in study.EARLY_STOPPING_DEFAULTS}
    assert defaults == study.EARLY_STOPPING_DEFAULTS  # what a run's recipe leaves out


@pytest.mark.parametrize("term", ["pdp", "ce"])
def test_a_zero_weight_trains_exactly_the_baseline(demo_sets, term):
    """A grid point of weight 0 is the matched baseline: same batches, same draws, same weights bit for bit."""
    geometry = "spherical" if term == "pdp" else "euclidean"
    baseline = {"primary": "triplet", "geometry": geometry}
    zero = {**baseline, "aux": {term: 0.0}}
    batches = {**TRAINING, "sampler": "expression_spread"}
    first, second = (
        run(demo_sets, method=baseline, epochs=2, training=batches),
        run(demo_sets, method=zero, epochs=2, training=batches),
    )
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name]), name
    assert first.history["total"].tolist() == second.history["total"].tolist()
