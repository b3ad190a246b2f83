"""Scoring one run on its fold's unseen people, with the threshold from validation people."""

import numpy as np
import pytest
import torch
from demo_runs import EVALUATION, FBV, TRAINING, make_demo_sets, run

from emoverify.evaluation import verification
from emoverify.layout import Run
from emoverify.model import checkpoint


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    return make_demo_sets(tmp_path_factory)


def test_evaluation_chooses_the_threshold_on_validation_only(demo_sets):
    result = run(demo_sets, epochs=2)
    device = torch.device("cpu")
    embeddings = verification.embed_splits(result.model, {s: demo_sets[s] for s in ("test", "val")}, device)
    metric = "cosine"
    test_emb, val_emb = embeddings["test"], embeddings["val"]
    report = verification.verification_report(
        test_emb, demo_sets["test"], val_emb, demo_sets["val"], metric=metric, evaluation=EVALUATION, seed=0
    )
    shuffled = np.random.default_rng(0).permutation(test_emb)
    report_other_test = verification.verification_report(
        shuffled, demo_sets["test"], val_emb, demo_sets["val"], metric=metric, evaluation=EVALUATION, seed=0
    )
    assert report["threshold"] == report_other_test["threshold"]
    assert 0 <= report["auc"] <= 1 and 0 <= report["rank1"] <= 1
    assert report["n_test_identities"] == 3


def test_validation_without_negative_pairs_gives_nan_accuracy_and_says_why(demo_sets):
    full_val = demo_sets["val"]
    test, val = demo_sets["test"], full_val.subset(full_val.identities == sorted(set(full_val.identities))[0])
    assert len(val) > 1 and len(set(val.identities)) == 1
    test_emb, val_emb = verification.pixel_embeddings(test), verification.pixel_embeddings(val)
    report = verification.verification_report(
        test_emb, test, val_emb, val, metric="cosine", evaluation=EVALUATION, seed=0
    )
    assert report["threshold"] is None and report["balanced_accuracy"] is None  # NaN is written as null
    assert 0 <= report["auc"] <= 1
    assert any("validation" in note and "accuracy" in note for note in report["notes"])
    full = verification.verification_report(
        test_emb,
        test,
        verification.pixel_embeddings(demo_sets["val"]),
        demo_sets["val"],
        metric="cosine",
        evaluation=EVALUATION,
        seed=0,
    )
    assert full["threshold"] is not None and 0 <= full["balanced_accuracy"] <= 1 and full["auc"] == report["auc"]


def test_pixel_reference_is_unit_norm_and_centred(demo_sets):
    embedding = verification.pixel_embeddings(demo_sets["test"])
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(embedding.mean(axis=1), 0.0, atol=1e-6)


def test_a_failed_run_keeps_its_reason_through_evaluation_to_the_runs_table(tmp_path):
    from emoverify.report import runs_table

    checkpoint.save_failed_checkpoint(
        tmp_path / "model.pt", "no expression labels", method=FBV, training=TRAINING, extra={"fold": 0}
    )
    model, state = checkpoint.load_checkpoint(tmp_path / "model.pt", torch.device("cpu"))
    assert model is None and state["failed"] == "no expression labels"
    verification.write_metrics(
        tmp_path / "metrics.json",
        Run("tl_fbv", "manual", 0, 0),
        geometry="euclidean",
        values={},
        status=f"failed: {state['failed']}",
    )
    runs = runs_table.collect_runs([tmp_path / "metrics.json"])
    assert runs.iloc[0]["status"].startswith("missing") and "no expression labels" in runs.iloc[0]["status"]
