"""The pretrained regime's head: every method trains on cached descriptors instead of images."""

import numpy as np
import pytest
import torch
from demo_runs import DESCRIPTOR_SIZE, FBV, TRAINING, TRIPLET, descriptor_sets, run

from emoverify.evaluation import verification
from emoverify.features.store import Features, load_features, save_features
from emoverify.model import checkpoint
from emoverify.model.device import seed_everything
from emoverify.model.embedding import embed
from emoverify.model.networks import FeatureHead, model_from_recipe
from emoverify.splits.fold_data import descriptor_rows
from emoverify.training import loop

HEAD = {**TRAINING, "backbone": "head", "features": "dlib", "head_hidden": 32}


@pytest.fixture(scope="module")
def sets():
    return descriptor_sets()


def test_head_maps_descriptors_to_the_embedding_size_of_its_geometry():
    model = model_from_recipe({**HEAD, "embedding_dim": 12}, "spherical").eval()
    assert isinstance(model.backbone, FeatureHead) and model.backbone.feature_size == 128
    out = model(torch.randn(5, 128))
    assert out.shape == (5, 12)
    assert torch.allclose(out.norm(dim=1), torch.ones(5), atol=1e-5)


def test_head_learns_to_separate_unseen_people_better_than_untrained(sets):
    seed_everything(0)  # the run's seed: the head it starts from
    untrained = loop.validation_auc(model_from_recipe(HEAD, "spherical"), sets["val"], torch.device("cpu"))
    result = run(sets, epochs=8, training=HEAD)
    trained = result.history[result.history["epoch"] > 0]
    assert trained["total"].iloc[-1] < trained["total"].iloc[0]
    assert result.best_val_auc > untrained + 0.02 and result.best_epoch > 0 and result.epochs_run == 8
    assert result.history["epoch"].iloc[0] == 0  # the untrained head's row: validation figures, no loss
    assert result.history["val_auc"].iloc[0] == pytest.approx(untrained) and np.isnan(result.history["total"].iloc[0])


def test_the_untrained_head_ships_when_training_only_hurts_validation(sets):
    destroying = {**HEAD, "learning_rate": 50.0, "patience": 3}
    result = run(sets, epochs=6, training=destroying)
    history = result.history.set_index("epoch")
    assert (history.loc[1:, "val_auc"] < history.loc[0, "val_auc"]).all()  # every trained epoch is worse
    assert result.best_epoch == 0 and result.epochs_run == 3  # patience 3 after epoch 0
    untrained = verification.untrained_model(destroying, 0, torch.device("cpu"))  # the untrained reference's head
    shipped = result.model.state_dict()
    for name, value in untrained.state_dict().items():
        assert torch.equal(shipped[name], value), name
    assert result.best_val_auc == history.loc[0, "val_auc"]


def test_with_min_epochs_the_untrained_head_never_ships(sets):
    """The same destroying training: epoch 0 (the best on validation) and epoch 1 may not ship, and patience
    counts from epoch 2; the untrained head's row stays in the history as the start."""
    destroying = {**HEAD, "learning_rate": 50.0, "patience": 3, "min_epochs": 2}
    result = run(sets, epochs=8, training=destroying)
    history = result.history.set_index("epoch")
    assert history.loc[0, "val_auc"] > history.loc[1:, "val_auc"].max()
    eligible = history.loc[2:, "val_auc"]
    assert result.best_epoch == eligible.idxmax() and result.best_val_auc == eligible.max()
    assert result.epochs_run == min(8, result.best_epoch + 3)
    assert history["shipped"].sum() == 1 and history.loc[result.best_epoch, "shipped"]


def test_a_frozen_projection_keeps_the_recognizer_and_trains_only_the_residual(sets):
    seed_everything(0)
    start = model_from_recipe({**HEAD, "head_projection": "frozen"}, "spherical").state_dict()
    start = {name: value.clone() for name, value in start.items()}
    frozen_run = run(sets, epochs=4, training={**HEAD, "head_projection": "frozen", "patience": 5})
    assert frozen_run.best_epoch > 0  # a trained epoch shipped, not the untrained head
    frozen = frozen_run.model.state_dict()
    trainable = run(sets, epochs=4, training={**HEAD, "patience": 5}).model.state_dict()
    projection = "backbone.projection.weight"
    assert torch.equal(frozen[projection], start[projection])
    assert not torch.equal(trainable[projection], start[projection])
    assert not torch.equal(frozen["backbone.residual.2.weight"], start["backbone.residual.2.weight"])


def test_an_unknown_head_projection_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown head_projection 'fixed'"):
        model_from_recipe({**HEAD, "head_projection": "fixed"}, "spherical")


def test_from_scratch_networks_do_not_rank_their_random_start(sets):
    assert loop.untrained_is_candidate(HEAD) and not loop.untrained_is_candidate(TRAINING)


@pytest.mark.parametrize("method", [TRIPLET, FBV], ids=["triplet", "fbv_pdp"])
def test_head_checkpoint_reloads_to_the_same_embeddings(sets, method, tmp_path):
    result = run(sets, method=method, epochs=1, training=HEAD)
    path = tmp_path / "model.pt"
    checkpoint.save_checkpoint(path, result, method=method, training=HEAD, extra={})
    reloaded, _ = checkpoint.load_checkpoint(path, torch.device("cpu"))
    assert isinstance(reloaded.backbone, FeatureHead)
    device = torch.device("cpu")
    rows = sets["test"].images
    np.testing.assert_allclose(embed(reloaded, rows, device), embed(result.model, rows, device), rtol=1e-5)


def test_descriptors_are_neither_augmented_nor_flipped(sets):
    rows = sets["train"].images[:6]
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert torch.equal(loop.augment(rows, True, 4, generator), rows)
    assert torch.equal(generator.get_state(), state)  # no draw: batches stay identical across methods
    model = model_from_recipe(HEAD, "euclidean").eval()
    device = torch.device("cpu")
    with torch.no_grad():
        plain = model(rows).numpy()
    np.testing.assert_allclose(embed(model, rows, device, flip_average=True), plain, rtol=1e-5)


def test_descriptor_rows_follow_the_requested_order_and_name_missing_faces(tmp_path):
    vectors = np.arange(3 * DESCRIPTOR_SIZE, dtype=np.float32).reshape(3, DESCRIPTOR_SIZE)
    path = tmp_path / "dlib.npz"
    save_features(path, Features(np.array(["a", "b", "c"]), vectors, models=("test",), seconds=1.0))
    rows = descriptor_rows(load_features(path), ["c", "a"])
    assert rows.dtype == torch.float32
    np.testing.assert_array_equal(rows.numpy(), vectors[[2, 0]])
    with pytest.raises(ValueError, match="no dlib descriptor.*rerun the extract_features rule"):
        descriptor_rows(load_features(path), ["a", "zz"])
