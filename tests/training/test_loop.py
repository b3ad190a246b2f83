"""Training one run on the built-in demo drawings."""

import numpy as np
import pandas as pd
import pytest
import torch
from demo_runs import EVALUATION, FBV, TRAINING, make_demo_sets, run

from emoverify.evaluation import verification as evaluate
from emoverify.layout import Run
from emoverify.model import checkpoint
from emoverify.model.embedding import embed
from emoverify.model.networks import model_from_recipe
from emoverify.splits.fold_data import FaceSet
from emoverify.training import loop as train


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
    unlabelled = demo_sets["train"]
    unlabelled = FaceSet(
        unlabelled.image_ids,
        unlabelled.images,
        unlabelled.identities,
        unlabelled.sessions,
        np.full(len(unlabelled), -1),
        unlabelled.manual_expressions,
    )
    with pytest.raises(train.TrainingDataError, match="confidence_threshold"):
        run(demo_sets, method=FBV, epochs=1, train_set=unlabelled)


def test_augmentation_keeps_shape_and_can_be_switched_off():
    images = torch.randint(0, 255, (5, 3, 16, 16), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(train.augment(images, False, 0, generator), images)
    shifted = train.augment(images, True, 3, generator)
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    assert not torch.equal(shifted, images)


def test_flip_averaged_spherical_embeddings_stay_on_the_sphere(demo_sets):
    torch.manual_seed(0)
    model = model_from_recipe({**TRAINING, "embedding_dim": 8, "width": 4}, "spherical")
    embedding = embed(model, demo_sets["test"].images, torch.device("cpu"))
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)


def test_evaluation_chooses_the_threshold_on_validation_only(demo_sets):
    result = run(demo_sets, epochs=2)
    device = torch.device("cpu")
    embeddings = evaluate.embed_splits(result.model, {s: demo_sets[s] for s in ("test", "val")}, device)
    metric = "cosine"
    test_emb, val_emb = embeddings["test"], embeddings["val"]
    report = evaluate.verification_report(
        test_emb, demo_sets["test"], val_emb, demo_sets["val"], metric=metric, evaluation=EVALUATION, seed=0
    )
    shuffled = np.random.default_rng(0).permutation(test_emb)
    report_other_test = evaluate.verification_report(
        shuffled, demo_sets["test"], val_emb, demo_sets["val"], metric=metric, evaluation=EVALUATION, seed=0
    )
    assert report["threshold"] == report_other_test["threshold"]
    assert 0 <= report["auc"] <= 1 and 0 <= report["rank1"] <= 1
    assert report["n_test_identities"] == 3


def test_validation_without_negative_pairs_gives_nan_accuracy_and_says_why(demo_sets):
    full_val = demo_sets["val"]
    test, val = demo_sets["test"], full_val.subset(full_val.identities == sorted(set(full_val.identities))[0])
    assert len(val) > 1 and len(set(val.identities)) == 1
    test_emb, val_emb = evaluate.pixel_embeddings(test), evaluate.pixel_embeddings(val)
    report = evaluate.verification_report(test_emb, test, val_emb, val, metric="cosine", evaluation=EVALUATION, seed=0)
    assert report["threshold"] is None and report["accuracy"] is None  # NaN is written as null
    assert 0 <= report["auc"] <= 1
    assert any("validation" in note and "accuracy" in note for note in report["notes"])
    full = evaluate.verification_report(
        test_emb,
        test,
        evaluate.pixel_embeddings(demo_sets["val"]),
        demo_sets["val"],
        metric="cosine",
        evaluation=EVALUATION,
        seed=0,
    )
    assert full["threshold"] is not None and 0 <= full["accuracy"] <= 1 and full["auc"] == report["auc"]


def test_pixel_reference_is_unit_norm_and_centred(demo_sets):
    embedding = evaluate.pixel_embeddings(demo_sets["test"])
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(embedding.mean(axis=1), 0.0, atol=1e-6)


def test_a_failed_run_keeps_its_reason_through_evaluation_to_the_runs_table(tmp_path):
    from emoverify.report import statistics as summary

    checkpoint.save_failed_checkpoint(
        tmp_path / "model.pt", "no expression labels", method=FBV, training=TRAINING, extra={"fold": 0}
    )
    model, state = checkpoint.load_checkpoint(tmp_path / "model.pt", torch.device("cpu"))
    assert model is None and state["failed"] == "no expression labels"
    evaluate.write_metrics(
        tmp_path / "metrics.json",
        Run("tl_fbv", "manual", 0, 0),
        geometry="euclidean",
        values={},
        status=f"failed: {state['failed']}",
    )
    runs = summary.collect_runs([tmp_path / "metrics.json"])
    assert runs.iloc[0]["status"].startswith("missing") and "no expression labels" in runs.iloc[0]["status"]


def test_batches_shrink_to_the_identities_a_small_fold_has(demo_sets, capsys):
    training = {**TRAINING, "batch_identities": 50, "batches_per_epoch": 2}
    result = run(demo_sets, epochs=1, training=training)
    assert len(result.history) == 1
    assert "batches of 8 identities instead of 50" in capsys.readouterr().out
