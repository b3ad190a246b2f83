"""Training one run on the built-in demo drawings."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from demo_runs import FBV, TRAINING, TRIPLET, make_demo_sets, run

from emoverify import metrics
from emoverify.model import checkpoint
from emoverify.model.embedding import embed
from emoverify.model.networks import model_from_recipe
from emoverify.training import loop
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
        setup = loop.set_up_training(faces, method=method, settings=SETTINGS, seed=3, device=device)
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
            faces,
            method=TRIPLET,
            settings=TrainingSettings.from_recipe({**TRAINING, "sampler": sampler}),
            seed=1,
            device=torch.device("cpu"),
        )
        runs.append(batches_and_augmentation(setup, faces)[0])
    assert runs[0] == runs[1]
    random_setup = loop.set_up_training(base, method=TRIPLET, settings=SETTINGS, seed=1, device=torch.device("cpu"))
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
        demo_sets["train"], no_val, method=FBV, settings=SETTINGS, epochs=2, seed=0, device=torch.device("cpu")
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
