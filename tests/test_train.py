"""Training and evaluation of one run, on the built-in demo drawings (no detector, for speed)."""

import numpy as np
import pandas as pd
import pytest
import torch

from emoverify import evaluate, train
from emoverify.facedata import FaceSet, expression_codes, load_images
from emoverify.models import build_model

TRAINING = {
    "backbone": "compact", "pretrained": "none", "pretrained_path": "", "width": 8, "embedding_dim": 16,
    "input_size": 32, "batch_identities": 4, "images_per_identity": 4, "batches_per_epoch": 6,
    "learning_rate": 0.003, "weight_decay": 0.0, "optimizer": "adam", "patience": 10, "margin": 0.2,
    "mining": "all", "arcface_scale": 30.0, "arcface_margin": 0.5, "fbv_scale": 1.0, "augment_flip": True,
    "augment_crop": 2, "mixed_precision": True,
}
EVALUATION = {"exclude_same_session": True, "rank1_draws": 5, "pca_method_pairs": []}
TRIPLET = {"primary": "triplet", "geometry": "spherical", "aux": {}}
FBV = {"primary": "triplet", "geometry": "euclidean", "aux": {"fbv": 0.1, "pdp": 0.1}}


def face_set(table: pd.DataFrame, root) -> FaceSet:
    return FaceSet(
        image_ids=[f"{i}" for i in range(len(table))],
        images=load_images([root / p for p in table["path"]], TRAINING["input_size"]),
        identities=table["identity"].to_numpy(),
        sessions=np.array([""] * len(table)),
        expressions=expression_codes(table["emotion"]),
        manual_expressions=expression_codes(table["emotion"]),
    )


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    from emoverify.demo import generate_demo

    root = tmp_path_factory.mktemp("demo")
    table = generate_demo(root, n_identities=14, images_per_expression=2, image_size=64, seed=3)
    people = sorted(table["identity"].unique())
    split = {"train": people[:8], "val": people[8:11], "test": people[11:]}
    return {name: face_set(table[table["identity"].isin(ids)].reset_index(drop=True), root)
            for name, ids in split.items()}


def run(demo_sets, method=TRIPLET, epochs=4, seed=0):
    return train.train_model(demo_sets["train"], demo_sets["val"], method=method, training=TRAINING, epochs=epochs,
                             seed=seed, device=torch.device("cpu"), progress=False)


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
    train.save_checkpoint(path, result, method=FBV, training=TRAINING, extra={"fold": 0})
    reloaded, state = train.load_checkpoint(path, torch.device("cpu"))
    device = torch.device("cpu")
    images = demo_sets["test"].images
    np.testing.assert_allclose(train.embed(reloaded, images, device), train.embed(result.model, images, device))
    assert reloaded.geometry == "euclidean" and state["fold"] == 0


def test_expression_losses_without_any_label_stop_with_a_clear_message(demo_sets):
    unlabelled = demo_sets["train"]
    unlabelled = FaceSet(unlabelled.image_ids, unlabelled.images, unlabelled.identities, unlabelled.sessions,
                         np.full(len(unlabelled), -1), unlabelled.manual_expressions)
    with pytest.raises(train.TrainingDataError, match="confidence_threshold"):
        train.train_model(unlabelled, demo_sets["val"], method=FBV, training=TRAINING, epochs=1, seed=0,
                          device=torch.device("cpu"), progress=False)


def test_augmentation_keeps_shape_and_can_be_switched_off():
    images = torch.randint(0, 255, (5, 3, 16, 16), dtype=torch.uint8)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(train.augment(images, False, 0, generator), images)
    shifted = train.augment(images, True, 3, generator)
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    assert not torch.equal(shifted, images)


def test_flip_averaged_spherical_embeddings_stay_on_the_sphere(demo_sets):
    torch.manual_seed(0)
    model = build_model("compact", embedding_dim=8, geometry="spherical", width=4)
    embedding = train.embed(model, demo_sets["test"].images, torch.device("cpu"))
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)


def test_evaluation_chooses_the_threshold_on_validation_only(demo_sets):
    result = run(demo_sets, epochs=2)
    device = torch.device("cpu")
    test_emb, val_emb, metric = evaluate.embed_pair(result.model, demo_sets["test"], demo_sets["val"], device)
    report = evaluate.verification_report(test_emb, demo_sets["test"], val_emb, demo_sets["val"], metric=metric,
                                          evaluation=EVALUATION, seed=0)
    shuffled = np.random.default_rng(0).permutation(test_emb)
    report_other_test = evaluate.verification_report(shuffled, demo_sets["test"], val_emb, demo_sets["val"],
                                                     metric=metric, evaluation=EVALUATION, seed=0)
    assert report["threshold"] == report_other_test["threshold"]
    assert 0 <= report["auc"] <= 1 and 0 <= report["rank1"] <= 1
    assert report["n_test_identities"] == 3


def test_validation_without_negative_pairs_gives_nan_accuracy_and_says_why(demo_sets):
    full_val = demo_sets["val"]
    test, val = demo_sets["test"], full_val.subset(full_val.identities == sorted(set(full_val.identities))[0])
    assert len(val) > 1 and len(set(val.identities)) == 1
    test_emb, val_emb = evaluate.pixel_embeddings(test), evaluate.pixel_embeddings(val)
    report = evaluate.verification_report(test_emb, test, val_emb, val, metric="cosine", evaluation=EVALUATION,
                                          seed=0)
    assert report["threshold"] is None and report["accuracy"] is None  # NaN is written as null
    assert 0 <= report["auc"] <= 1
    assert any("validation" in note and "accuracy" in note for note in report["notes"])
    full = evaluate.verification_report(test_emb, test, evaluate.pixel_embeddings(demo_sets["val"]),
                                        demo_sets["val"], metric="cosine", evaluation=EVALUATION, seed=0)
    assert full["threshold"] is not None and 0 <= full["accuracy"] <= 1 and full["auc"] == report["auc"]


def test_pixel_reference_is_unit_norm_and_centred(demo_sets):
    embedding = evaluate.pixel_embeddings(demo_sets["test"])
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(embedding.mean(axis=1), 0.0, atol=1e-6)


def test_a_failed_run_keeps_its_reason_through_evaluation_to_the_runs_table(tmp_path):
    from emoverify import summary

    train.save_failed_checkpoint(tmp_path / "model.pt", "no expression labels", method=FBV, training=TRAINING,
                                 extra={"fold": 0})
    model, state = train.load_checkpoint(tmp_path / "model.pt", torch.device("cpu"))
    assert model is None and state["failed"] == "no expression labels"
    evaluate.write_metrics(tmp_path / "metrics.json", method="tl_fbv", labels="manual", fold=0, seed=0,
                           geometry="euclidean", values={}, status=f"failed: {state['failed']}")
    runs = summary.collect_runs([tmp_path / "metrics.json"])
    assert runs.iloc[0]["status"].startswith("missing") and "no expression labels" in runs.iloc[0]["status"]


def test_batches_shrink_to_the_identities_a_small_fold_has(demo_sets, capsys):
    training = {**TRAINING, "batch_identities": 50, "batches_per_epoch": 2}
    result = train.train_model(demo_sets["train"], demo_sets["val"], method=TRIPLET, training=training, epochs=1,
                               seed=0, device=torch.device("cpu"), progress=False)
    assert len(result.history) == 1
    assert "batches of 8 identities instead of 50" in capsys.readouterr().out
