"""Loading a fold with a run's label source: repeats, and the shuffled-label control."""

import numpy as np
import pandas as pd
import pytest

from emoverify.splits.fold_data import run_expressions, shuffled_expressions
from emoverify.splits.folds import held_out_share, make_folds, make_repeated_folds, split_summary


def faces_table(n_identities=12, per_identity=6):
    emotions = ["anger", "happiness", "neutral", "sadness", "surprise", ""]
    rows = [
        {"image_id": f"p{p}_{i}", "identity": f"p{p}", "status": "ok", "emotion_manual": emotions[(p + i) % 6]}
        for p in range(n_identities)
        for i in range(per_identity)
    ]
    return pd.DataFrame(rows)


def test_repeat_zero_is_the_single_assignment_and_other_repeats_draw_new_folds():
    table = faces_table()
    repeated = make_repeated_folds(table, n_folds=3, repeats=3, seed=5, val_fraction=0.25)
    single = make_folds(table, n_folds=3, seed=5, val_fraction=0.25)
    first = repeated[repeated["repeat"] == 0].drop(columns="repeat").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, single)
    tests = [
        frozenset(
            repeated[(repeated["repeat"] == r) & (repeated["fold"] == 0) & (repeated["split"] == "test")]["identity"]
        )
        for r in range(3)
    ]
    assert len(set(tests)) > 1
    for _, unit in repeated.groupby(["repeat", "fold"]):  # identity-disjoint within each unit
        people = unit.groupby("split")["identity"].apply(set)
        assert not (people["train"] & people["test"]) and not (people.get("val", set()) & people["test"])
    summary = split_summary(repeated)
    assert len(summary) == 3 * 3 * 3 and summary["n_images"].sum() == len(repeated)


def test_held_out_share_is_test_over_fitting_images():
    folds = make_repeated_folds(faces_table(), n_folds=4, repeats=2, seed=0, val_fraction=0.25)
    assert held_out_share(folds) == pytest.approx(1 / 3)  # equal identities: a quarter test, three quarters fit


def test_shuffled_labels_permute_the_training_images_only_and_keep_class_frequencies():
    table = faces_table()
    folds = make_repeated_folds(table, n_folds=3, repeats=2, seed=0, val_fraction=0.25)
    params = {"source": "shuffled", "shuffle_source": "manual"}
    manual = run_expressions(table, {"source": "manual"}, None)
    shuffled = run_expressions(table, params, None, folds, repeat=1, fold=2)
    unit = folds[(folds["repeat"] == 1) & (folds["fold"] == 2)]
    train = unit.loc[unit["split"] == "train", "image_id"].tolist()
    others = unit.loc[unit["split"] != "train", "image_id"].tolist()
    assert (shuffled[others] == manual[others]).all()
    assert sorted(shuffled[train]) == sorted(manual[train])
    assert (shuffled[train] != manual[train]).mean() > 0.5
    unknown = manual[train] == ""
    assert (shuffled[train][unknown] == "").all()  # unknown labels stay unknown
    again = run_expressions(table, params, None, folds, repeat=1, fold=2)
    pd.testing.assert_series_equal(again, shuffled)  # the same for every method and seed of the unit
    other_unit = shuffled_expressions(manual, train, repeat=0, fold=2)
    assert not other_unit[train].equals(shuffled[train])
    assert np.array_equal(np.sort(other_unit[train].to_numpy()), np.sort(manual[train].to_numpy()))
