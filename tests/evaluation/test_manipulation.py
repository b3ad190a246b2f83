"""The manipulation check's measures, each against a plain loop over its formula on random inputs."""

import dataclasses
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from demo_runs import EVALUATION, FBV, TRAINING, make_demo_sets

from emoverify.evaluation import jobs as evaluation_jobs
from emoverify.evaluation import manipulation
from emoverify.layout import Run
from emoverify.losses.expression.fbv import basis_offsets
from emoverify.losses.loops import loop_ce, loop_fbv, loop_pdm, loop_pdp
from emoverify.model import checkpoint
from emoverify.splits.fold_data import FaceSet
from emoverify.training import jobs as training_jobs
from emoverify.training.fold import prepare_fold
from emoverify.training.settings import TrainingSettings
from emoverify.vocabulary import EXPRESSIONS

N_EXPRESSIONS = 7


def random_split(seed: int, n: int, people: int, dim: int = 8):
    """Embeddings, identity names and expression codes (-1 unknown) drawn at random."""
    rng = np.random.default_rng(seed)
    identities = np.array([f"person{rng.integers(people)}" for _ in range(n)])
    emo = rng.integers(-1, N_EXPRESSIONS, n)
    return rng.normal(size=(n, dim)), identities, emo


def codes(identities) -> list[int]:
    return np.unique(identities, return_inverse=True)[1].tolist()


SETTINGS = manipulation.loss_settings(8, origin_expression=5, fbv_scale=0.7)


@pytest.mark.parametrize("seed", range(4))
def test_pure_terms_match_the_loop_over_their_formulas(seed):
    emb, identities, emo = random_split(seed, 24, 4)
    x, ids, labels = torch.from_numpy(emb), codes(identities), emo.tolist()
    offsets = basis_offsets(N_EXPRESSIONS, 8, 5, 0.7).double()
    expected = {
        "pdm": loop_pdm(x, ids, labels),
        "pdp": loop_pdp(x, ids, labels),
        "fbv": loop_fbv(x, ids, labels, offsets),
    }
    for name, value in expected.items():
        assert manipulation.pure_term(name, emb, identities, emo, SETTINGS) == pytest.approx(float(value), rel=1e-9)


def test_the_composition_term_is_the_loop_with_the_net_fitted_on_the_training_people():
    train, test = random_split(0, 40, 5), random_split(1, 18, 3)
    fitted = manipulation.fitted_composition(*train, SETTINGS, seed=3)
    x = torch.from_numpy(test[0]).float()
    with torch.no_grad():
        expected = float(loop_ce(x, codes(test[1]), test[2].tolist(), fitted.net))
    assert manipulation.composition_term(train, test, SETTINGS, seed=3) == pytest.approx(expected, rel=1e-5)


def test_fitting_the_composition_net_lowers_its_term_on_the_training_people_and_keeps_the_callers_draws():
    train = random_split(2, 60, 6)
    untrained = manipulation.loss_class("expression", "ce")(SETTINGS)
    emb, ids, emo = torch.from_numpy(train[0]).float(), torch.tensor(codes(train[1])), torch.from_numpy(train[2])
    torch.manual_seed(11)
    before_draw = torch.rand(1)
    torch.manual_seed(11)
    fitted = manipulation.fitted_composition(*train, SETTINGS, seed=0)
    assert torch.rand(1) == before_draw  # the fit draws from its own generator
    with torch.no_grad():
        assert float(fitted(emb, ids, emo)) < 0.5 * float(untrained(emb, ids, emo))


def loop_probe(probe, test_emb, test_emo):
    """Cross-entropy of the probe's probabilities and the mean per-class recall, over the test faces whose
    expression the probe learnt."""
    losses, hits = [], {}
    probabilities = probe.predict_proba(test_emb)
    predictions = probe.predict(test_emb)
    for row, label in enumerate(test_emo):
        if label not in probe.classes_:
            continue
        losses.append(-math.log(probabilities[row][list(probe.classes_).index(label)]))
        hits.setdefault(label, []).append(predictions[row] == label)
    return sum(losses) / len(losses), sum(sum(h) / len(h) for h in hits.values()) / len(hits)


@pytest.mark.parametrize("seed", range(3))
def test_mtl_and_the_probe_match_the_loop_over_the_probes_predictions(seed):
    train, test = random_split(seed, 80, 8), random_split(seed + 10, 30, 3)
    train_emo = np.where(train[2] == 4, -1, train[2])  # no training face shows expression 4: it is left out
    test_emo = test[2].copy()
    test_emo[:3] = 4
    measured = manipulation.probe_measures(train[0], train_emo, test[0], test_emo, N_EXPRESSIONS, seed=seed)
    probe = manipulation.fit_probe(train[0], train_emo, seed=seed)
    loss, accuracy = loop_probe(probe, test[0], test_emo)
    assert measured["mtl"] == pytest.approx(loss, rel=1e-6)
    assert measured["probe_balanced_accuracy"] == pytest.approx(accuracy, rel=1e-12)
    assert measured["n_test_probed"] == int(np.isin(test_emo, probe.classes_).sum())


def test_a_probe_needs_two_training_expressions():
    train, test = random_split(0, 20, 4), random_split(1, 10, 2)
    one = np.where(train[2] >= 0, 3, -1)
    measured = manipulation.probe_measures(train[0], one, test[0], test[2], N_EXPRESSIONS)
    assert measured == {"mtl": None, "probe_balanced_accuracy": None, "n_test_probed": 0}


def test_a_run_is_measured_with_the_true_labels_and_written_in_the_metrics_layout(tmp_path):
    def face_set(split, seed, n, people):
        emb, identities, _ = random_split(seed, n, people)
        ids = [f"{split}{i}" for i in range(n)]
        shuffled = np.zeros(n, dtype=np.int64)  # the run's own labels: never read
        faces = FaceSet(ids, torch.zeros(n, 1), identities, np.array([""] * n), shuffled, shuffled)
        return emb, faces

    (train_emb, train), (test_emb, test) = face_set("a", 0, 50, 6), face_set("b", 1, 20, 3)
    rng = np.random.default_rng(5)
    names = ["angry", "happy", "neutral", "sad", ""]
    truth_names = pd.Series(rng.choice(names, 70), index=train.image_ids + test.image_ids)
    truth = manipulation.Truth(truth_names, "manual", 5)
    path = tmp_path / "manipulation.json"
    run = Run("tl_pdm", "shuffled", 1, 0, repeat=2)
    values = manipulation.check_run(
        path, run, {"train": train_emb, "test": test_emb}, {"train": train, "test": test}, truth, TRAINING
    )
    record = json.loads(path.read_text())
    assert record["truth"] == "manual" and record["status"] == "ok" and record["labels"] == "shuffled"
    assert (record["fold"], record["repeat"], record["seed"]) == (1, 2, 0)
    test_codes = truth.codes(test.image_ids)
    assert record["metrics"]["pdm"] == pytest.approx(
        float(loop_pdm(torch.from_numpy(test_emb), codes(test.identities), test_codes.tolist()))
    )
    assert values["n_test_labelled"] == int((test_codes >= 0).sum()) and values["n_train_labelled"] > 0
    assert set(manipulation.MEASURES) <= set(record["metrics"])


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    """The demo's splits, each face with an id of its own across the splits (the true labels are looked up
    by id)."""
    sets = make_demo_sets(tmp_path_factory)
    return {
        split: dataclasses.replace(faces, image_ids=[f"{split}{i}" for i in range(len(faces))])
        for split, faces in sets.items()
    }


def demo_truth(sets) -> manipulation.Truth:
    names = {
        image_id: EXPRESSIONS[code] if code >= 0 else ""
        for faces in sets.values()
        for image_id, code in zip(faces.image_ids, faces.manual_expressions)
    }
    return manipulation.Truth(pd.Series(names), "manual", 5)


def test_the_evaluation_job_writes_the_check_and_leaves_every_other_file_as_it_was(demo_sets, tmp_path):
    runs = [Run("tl_pdp_fbv", "shuffled", 0, 0)]
    models = [str(tmp_path / f"model{run.seed}.pt") for run in runs]
    histories = [str(tmp_path / f"history{run.seed}.csv") for run in runs]
    settings = TrainingSettings.from_recipe(TRAINING)
    training_jobs.train_runs(
        prepare_fold(demo_sets["train"], demo_sets["val"]),
        runs,
        training_jobs.run_outputs(models, histories),
        method=FBV,
        settings=settings,
        job=training_jobs.JobSettings(1, torch.device("cpu"), io.StringIO()),
    )
    failed = str(tmp_path / "failed.pt")
    checkpoint.save_failed_checkpoint(failed, "no pair", method=FBV, training=TRAINING, extra={})
    runs.append(Run("tl_pdp_fbv", "shuffled", 0, 1))
    models.append(failed)

    def outputs(name, manipulation_check):
        files = {kind: [str(tmp_path / f"{name}{run.seed}-{kind}") for run in runs] for kind in ("e.npz", "m.json")}
        checks = [str(tmp_path / f"{name}{run.seed}-c.json") for run in runs] if manipulation_check else None
        return evaluation_jobs.output_pairs(files["e.npz"], files["m.json"], checks)

    evaluation = {"device": torch.device("cpu"), "evaluation": EVALUATION}
    scored_only = {split: demo_sets[split] for split in ("val", "test")}
    plain, checked = outputs("plain", False), outputs("checked", True)
    evaluation_jobs.evaluate_runs(runs, models, plain, lambda size: scored_only, **evaluation)
    truth = demo_truth(demo_sets)
    evaluation_jobs.evaluate_runs(runs, models, checked, lambda size: demo_sets, **evaluation, truth=truth)
    for before, after in zip(plain, checked):
        assert open(before.metrics).read() == open(after.metrics).read()
        with np.load(before.embeddings) as one, np.load(after.embeddings) as other:
            assert all(np.array_equal(one[key], other[key]) for key in one.files)
    records = [json.loads(open(output.manipulation).read()) for output in checked]
    assert [record["status"] for record in records] == ["ok", "failed: no pair"]
    test = demo_sets["test"]
    with np.load(checked[0].embeddings) as saved:
        embeddings = torch.from_numpy(saved["embeddings"]).double()
    expected = loop_pdm(embeddings, codes(test.identities), test.manual_expressions.tolist())
    assert records[0]["metrics"]["pdm"] == pytest.approx(float(expected), rel=1e-6)
    assert records[0]["truth"] == "manual" and records[0]["metrics"]["n_test_labelled"] == len(test)
