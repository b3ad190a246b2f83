"""The prepared fold: what a job's runs share, built once."""

from dataclasses import replace

import numpy as np
import pytest
from demo_runs import make_demo_sets

from emoverify.training.fold import prepare_fold, validation_pairs
from emoverify.training.pair_counts import session_codes


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    return make_demo_sets(tmp_path_factory)


def test_a_prepared_fold_holds_the_faces_their_validation_pairs_and_session_codes(demo_sets):
    train = demo_sets["train"]
    sessions = np.array(
        [f"{identity}_{index % 3}" if index % 4 else "" for index, identity in enumerate(train.identities)]
    )
    train = replace(train, sessions=sessions)
    fold = prepare_fold(train, demo_sets["val"], {"anger", "neutral"})
    assert fold.train is train and fold.val is demo_sets["val"]
    assert fold.sessions.tolist() == session_codes(train.identities, sessions).tolist()
    # two images share a code exactly when one person's known session holds both
    for i in range(len(train)):
        for j in range(i + 1, len(train)):
            shared = sessions[i] != "" and sessions[i] == sessions[j] and train.identities[i] == train.identities[j]
            assert bool(fold.sessions[i] == fold.sessions[j]) == shared
    assert fold.val_pairs.n_positive == validation_pairs(demo_sets["val"]).n_positive > 0
    assert fold.dataset_expressions == frozenset({"anger", "neutral"})


def test_given_validation_pairs_are_reused_and_a_fold_without_validation_people_has_none(demo_sets):
    shared = validation_pairs(demo_sets["val"])
    assert prepare_fold(demo_sets["train"], demo_sets["val"], val_pairs=shared).val_pairs is shared
    alone = prepare_fold(demo_sets["train"])
    assert len(alone.val) == 0 and alone.val_pairs is None and alone.dataset_expressions is None
    assert prepare_fold(demo_sets["train"], dataset_expressions=set()).dataset_expressions == frozenset()
