"""Pairs per expression loss, the single-session flag, and the training labels a run writes."""

import contextlib
import io
from dataclasses import replace
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import torch
from demo_runs import TRAINING, make_demo_sets

from emoverify import losses
from emoverify.layout import Run
from emoverify.losses import LossSettings
from emoverify.losses.expression.pdm import PDM as PDM_LOSS
from emoverify.losses.expression.pdm import pdm_across_sessions
from emoverify.training import jobs, pair_counts
from emoverify.training.fold import prepare_fold
from emoverify.training.objective import CombinedObjective
from emoverify.training.settings import TrainingSettings

PDM = {"primary": "triplet", "geometry": "spherical", "aux": {"pdm": 0.1}}


def loop_counts(identities, sessions, expressions):
    """Same-expression and cross-expression same-person pairs, and how many share a known session, by loops."""
    same = cross = same_in = cross_in = 0
    for i, j in combinations(range(len(identities)), 2):
        if identities[i] != identities[j] or expressions[i] < 0 or expressions[j] < 0:
            continue
        shared = sessions[i] != "" and sessions[i] == sessions[j]
        if expressions[i] == expressions[j]:
            same, same_in = same + 1, same_in + shared
        else:
            cross, cross_in = cross + 1, cross_in + shared
    return same, same_in, cross, cross_in


@pytest.mark.parametrize("draw", range(5))
def test_counts_match_a_plain_loop(draw):
    rng = np.random.default_rng(draw)
    n = 40
    identities = [f"p{k}" for k in rng.integers(0, 5, n)]
    sessions = [f"{p}_s{k}" if rng.random() > 0.2 else "" for p, k in zip(identities, rng.integers(0, 3, n))]
    expressions = rng.integers(-1, 4, n)
    table = pair_counts.loss_pairs(identities, sessions, expressions).set_index("loss")
    same, same_in, cross, cross_in = loop_counts(identities, sessions, expressions)
    assert table.loc["pdm", "person_pairs"] == table.loc["pdm", "pairs"] == same
    assert table.loc["pdm", "same_session_pairs"] == same_in
    for loss in ("pdp", "fbv", "ce"):
        assert table.loc[loss, "person_pairs"] == cross and table.loc[loss, "same_session_pairs"] == cross_in
    assert table.loc["fbv", "pairs"] == 2 * cross  # FBV and CE average over ordered pairs
    assert table.loc["mtl", "pairs"] == int((expressions >= 0).sum()) and not table.loc["mtl", "single_session"]


def test_pdm_is_flagged_when_every_same_label_pair_is_one_sequence():
    # two people, three sequences each of one expression, three frames a sequence (CK+48's shape)
    identities = ["a"] * 9 + ["b"] * 9
    sessions = [f"{p}_{k // 3}" for p in ("a", "b") for k in range(9)]
    expressions = [k // 3 for _ in range(2) for k in range(9)]
    table = pair_counts.loss_pairs(identities, sessions, expressions).set_index("loss")
    assert table.loc["pdm", "single_session"] and table.loc["pdm", "person_pairs"] == 2 * 3 * 3
    assert not table.loc["pdp", "single_session"]  # cross-expression pairs span sequences
    assert pair_counts.single_session_losses(identities, sessions, expressions, ["pdm", "pdp"]) == ["pdm"]
    # one frame of a's first sequence relabelled as its second sequence's expression: a cross-session pair
    expressions[0] = 1
    assert pair_counts.single_session_losses(identities, sessions, expressions, ["pdm"]) == []
    # unknown sessions share a session with nobody
    assert pair_counts.single_session_losses(identities, [""] * 18, [0] * 18, ["pdm"]) == []


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    return make_demo_sets(tmp_path_factory)


def test_a_run_writes_its_training_labels_and_flags_a_single_session_loss(demo_sets, tmp_path):
    train = demo_sets["train"]
    sessions = np.array([f"{identity}_{code}" for identity, code in zip(train.identities, train.expressions)])
    faces = {**demo_sets, "train": replace(train, sessions=sessions)}  # every same-label pair one session
    console = io.StringIO()
    run = Run("tl_pdm", "manual", 0, 0)
    model, history, labels = (str(tmp_path / name) for name in ("model.pt", "history.csv", "labels.csv"))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        jobs.train_runs(
            prepare_fold(faces["train"], faces["val"]),
            [run],
            jobs.run_outputs(model, history, labels),
            method=PDM,
            settings=TrainingSettings.from_recipe(TRAINING),
            job=jobs.JobSettings(1, torch.device("cpu"), console),
        )
    assert "pdm cannot test its idea on this data" in buffer.getvalue()
    written = pd.read_csv(labels, keep_default_na=False, dtype=str)
    assert written["image_id"].tolist() == [str(image) for image in train.image_ids]
    expected = ["" if code < 0 else pair_counts.EXPRESSIONS[code] for code in train.expressions]
    assert written["label"].tolist() == expected
    state = torch.load(model, weights_only=True)
    assert state["single_session_losses"] == "pdm"


def test_the_pair_counts_table_reads_the_runs_labels_and_refuses_disagreeing_runs(tmp_path):
    labels = pd.DataFrame(
        {
            "image_id": list("abcd"),
            "identity": ["p", "p", "q", "q"],
            "session": ["", "", "", ""],
            "label": ["anger", "anger", "anger", "happiness"],
        }
    )
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    labels.to_csv(one, index=False)
    labels.to_csv(two, index=False)
    table = pair_counts.pair_counts_table({("manual", 0, 1): [str(one), str(two)]}).set_index("loss")
    assert table.loc["pdm", "pairs"] == 1 and table.loc["fbv", "pairs"] == 2 and table.loc["mtl", "pairs"] == 4
    assert set(table["labels"]) == {"manual"} and set(table["fold"]) == {1}
    labels.assign(label=["anger", "fear", "anger", "happiness"]).to_csv(two, index=False)
    with pytest.raises(pair_counts.PairCountError, match="their training labels differ"):
        pair_counts.pair_counts_table({("manual", 0, 1): [str(one), str(two)]})


@pytest.mark.parametrize("draw", range(5))
def test_pdm_across_sessions_matches_a_plain_loop(draw):
    rng = np.random.default_rng(draw)
    n = 30
    identities = rng.integers(0, 4, n)
    sessions = [f"{p}_{k}" if rng.random() > 0.2 else "" for p, k in zip(identities, rng.integers(0, 3, n))]
    expressions = rng.integers(-1, 3, n)
    emb = torch.as_tensor(rng.normal(size=(n, 5)))
    codes = torch.as_tensor(pair_counts.session_codes(identities, sessions))
    ids, emo = torch.as_tensor(identities), torch.as_tensor(expressions)
    distances = []
    for i, j in combinations(range(n), 2):
        shared = sessions[i] != "" and sessions[i] == sessions[j]
        if identities[i] == identities[j] and expressions[i] == expressions[j] >= 0 and not shared:
            distances.append(float(((emb[i] - emb[j]) ** 2).sum()))
    value = pdm_across_sessions(emb, ids, emo, codes)
    assert float(value) == pytest.approx(np.mean(distances) if distances else 0.0, rel=1e-9, abs=1e-9)
    assert PDM_LOSS.count_pairs_across_sessions(ids, emo, codes) == len(distances)
    objective = CombinedObjective(
        "triplet", {"pdm": 1.0}, LossSettings(embedding_dim=5, n_identities=4), across_sessions=["pdm"]
    )
    _, terms = objective(emb.float(), ids, emo, codes)
    assert terms["pdm"] == pytest.approx(np.mean(distances) if distances else 0.0, rel=1e-5, abs=1e-6)
    assert objective.pairs_used(ids, emo, codes)["pairs_pdm"] == len(distances)
    with pytest.raises(ValueError, match="pass sessions"):
        objective(emb.float(), ids, emo)


def test_a_method_with_pdm_exclude_same_session_trains_pdm_across_sessions_and_is_not_flagged(demo_sets):
    assert losses.across_session_terms({**PDM, "pdm_exclude_same_session": True}) == ("pdm",)
    assert losses.across_session_terms({**PDM, "pdm_exclude_same_session": False}) == ()
    assert losses.across_session_terms({**PDM, "aux": {"pdm": 0.0}, "pdm_exclude_same_session": True}) == ()
    train = demo_sets["train"]
    sessions = np.array([f"{identity}_{code}" for identity, code in zip(train.identities, train.expressions)])
    single = replace(train, sessions=sessions)  # every same-label pair one session
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert jobs.flag_single_session_losses(single, PDM) == ["pdm"]
        assert jobs.flag_single_session_losses(single, {**PDM, "pdm_exclude_same_session": True}) == []
    assert buffer.getvalue().count("cannot test its idea") == 1


def test_objective_refuses_to_exclude_sessions_for_a_loss_without_the_option():
    with pytest.raises(ValueError, match="pdp loss cannot leave out same-session pairs"):
        CombinedObjective(
            "triplet", {"pdp": 1.0}, LossSettings(embedding_dim=5, n_identities=4), across_sessions=["pdp"]
        )
