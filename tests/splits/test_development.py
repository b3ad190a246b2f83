"""The development partition: set aside before the folds, in no unit's train/val/test, and the only people the
development partition's inner folds draw from."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emoverify.labels.sources import LabelSource
from emoverify.splits.fold_data import SPLITS, fold_faces
from emoverify.splits.folds import (
    DEVELOPMENT,
    SplitError,
    development_identities,
    make_repeated_folds,
    outside_development,
    split_summary,
    summary_line,
)


def faces_table(n_identities=30, per_identity=4):
    emotions = ["anger", "happiness", "neutral", "sadness"]
    rows = [
        {
            "image_id": f"p{p}_{i}",
            "identity": f"p{p}",
            "status": "ok",
            "emotion_manual": emotions[i % 4],
            "aligned_path": "",
        }
        for p in range(n_identities)
        for i in range(per_identity)
    ]
    return pd.DataFrame(rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=27, max_value=40),
    st.sampled_from([0.15, 0.2, 0.3]),
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=0, max_value=1000),
)
def test_development_people_are_in_no_units_train_val_or_test(n_identities, fraction, seed, development_seed):
    table = faces_table(n_identities)
    folds = make_repeated_folds(
        table,
        n_folds=3,
        repeats=2,
        seed=seed,
        val_fraction=0.25,
        development_fraction=fraction,
        development_seed=development_seed,
    )
    development = set(development_identities(table, fraction=fraction, seed=development_seed))
    assert len(development) == round(fraction * n_identities)
    for _, unit in folds.groupby(["repeat", "fold"]):
        assert len(unit) == len(table) and unit["image_id"].is_unique  # every image once per unit
        used = set(unit.loc[unit["split"].isin(SPLITS), "identity"])
        assert not used & development
        assert set(unit.loc[unit["split"] == DEVELOPMENT, "identity"]) == development
        assert used | development == set(table["identity"])


def test_development_people_never_reach_a_loaded_split():
    """Every split a run, its evaluation or a reference loads (train, val, test) holds no development person,
    and no run's labels (shuffled ones included) are drawn from them."""
    table = faces_table(24)
    folds = make_repeated_folds(table, n_folds=3, repeats=2, seed=0, development_fraction=0.25, development_seed=3)
    development = set(folds.loc[folds["split"] == DEVELOPMENT, "identity"])
    assert len(development) == 6
    labels = LabelSource("manual").expressions(table, None)
    for (repeat, fold), _ in folds.groupby(["repeat", "fold"]):
        for split in SPLITS:
            faces = fold_faces(table, folds, fold, split, labels, 8, repeat=repeat, pixels=_NoPixels())
            assert not set(faces.identities) & development
    with pytest.raises(ValueError, match="unknown split"):
        fold_faces(table, folds, 0, DEVELOPMENT, labels, 8, pixels=_NoPixels())


class _NoPixels:
    def rows(self, ids):
        import numpy as np

        return np.zeros((len(ids), 3, 8, 8), dtype=np.uint8)


def test_fraction_zero_gives_the_folds_without_a_partition():
    table = faces_table(12)
    plain = make_repeated_folds(table, n_folds=3, repeats=2, seed=4, val_fraction=0.25)
    zero = make_repeated_folds(table, n_folds=3, repeats=2, seed=4, val_fraction=0.25, development_fraction=0.0)
    pd.testing.assert_frame_equal(plain, zero)
    assert DEVELOPMENT not in set(split_summary(zero)["split"])


def test_the_development_partition_draws_inner_folds_from_its_people_alone():
    table = faces_table(30)
    inner = make_repeated_folds(
        table, n_folds=3, repeats=1, seed=0, development_fraction=0.2, development_seed=1, partition=DEVELOPMENT
    )
    development = set(development_identities(table, fraction=0.2, seed=1))
    assert set(inner["identity"]) == development
    assert set(inner["split"]) == {"train", "val"}  # inner folds: validation and training people, no test
    validating = inner[inner["split"] == "val"].groupby("identity")["fold"].nunique()
    assert set(validating.index) == development and (validating == 1).all()  # each validates in one fold
    study = make_repeated_folds(table, n_folds=3, repeats=1, seed=0, development_fraction=0.2, development_seed=1)
    assert set(study.loc[study["split"] == DEVELOPMENT, "identity"]) == development
    summary = split_summary(study)
    assert "development (in no fold) 6" in summary_line(summary, "summary.csv")


def test_development_draw_depends_on_its_own_seed_only():
    table = faces_table(30)
    first = development_identities(table, fraction=0.2, seed=0)
    assert first == development_identities(table, fraction=0.2, seed=0)
    assert first != development_identities(table, fraction=0.2, seed=1)


def test_too_small_a_development_partition_is_refused_with_the_key_to_change():
    with pytest.raises(SplitError, match="raise development_fraction or set it to 0"):
        development_identities(faces_table(10), fraction=0.2, seed=0)
    with pytest.raises(SplitError, match="set development_fraction above 0"):
        make_repeated_folds(faces_table(10), n_folds=2, repeats=1, seed=0, partition=DEVELOPMENT)


def test_study_wide_tables_leave_the_development_people_out():
    table = faces_table(30)
    kept = outside_development(table, fraction=0.2, seed=5)
    development = set(development_identities(table, fraction=0.2, seed=5))
    assert set(kept["identity"]) == set(table["identity"]) - development and len(development) == 6
    assert outside_development(table, fraction=0.0, seed=5) is table
