"""Identity-disjoint folds: properties on random tables, clear errors, real CK+48 layout."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emoverify.splits.folds import (
    NO_VAL_NOTE,
    SINGLE_FACE_NOTE,
    SplitError,
    fold_count_problem,
    held_out_share,
    largest_supported_folds,
    make_folds,
    make_repeated_folds,
    split_summary,
)


def faces_table(sizes: list[int], failed_per_identity: int = 0) -> pd.DataFrame:
    """One row per image: identity p<i> has sizes[i] ok faces (+ failed ones)."""
    rows = []
    for person, size in enumerate(sizes):
        statuses = ["ok"] * size + ["no_face"] * failed_per_identity
        rows += [{"image_id": f"p{person}_{k}", "identity": f"p{person}", "status": s} for k, s in enumerate(statuses)]
    return pd.DataFrame(rows)


def identities_in(folds: pd.DataFrame, fold: int, split: str) -> set:
    chosen = folds[(folds["fold"] == fold) & (folds["split"] == split)]
    return set(chosen["identity"])


def partition_of(folds: pd.DataFrame) -> set:
    """The test identities of each fold, ignoring fold numbering."""
    return {frozenset(identities_in(folds, k, "test")) for k in folds["fold"].unique()}


tables = st.tuples(
    st.lists(st.integers(min_value=1, max_value=9), min_size=2, max_size=25),
    st.integers(min_value=2, max_value=5),
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from([0.0, 0.2, 0.5]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables)
def test_fold_properties(case):
    sizes, n_folds, seed, val_fraction = case
    eligible = {f"p{i}" for i, s in enumerate(sizes) if s >= 2}
    table = faces_table(sizes, failed_per_identity=1)
    if fold_count_problem(len(eligible), len(sizes), n_folds):
        with pytest.raises(SplitError, match="set folds to at most|even folds=2 cannot|nobody has two"):
            make_folds(table, n_folds=n_folds, seed=seed, val_fraction=val_fraction)
        return
    try:
        folds = make_folds(table, n_folds=n_folds, seed=seed, val_fraction=val_fraction)
    except SplitError as error:  # enough people, but their image counts too uneven for any assignment tried
        assert "too uneven" in str(error)
        return

    ok_ids = set(table.loc[table["status"] == "ok", "image_id"])
    assert sorted(folds["fold"].unique()) == list(range(n_folds))
    for fold, part in folds.groupby("fold"):
        assert set(part["image_id"]) == ok_ids and len(part) == len(ok_ids)
        # identity-disjoint: each identity sits in exactly one split of the fold
        assert (part.groupby("identity")["split"].nunique() == 1).all()
        assert len(identities_in(folds, fold, "test")) >= 2, "a test split needs negative pairs"
        assert len(identities_in(folds, fold, "train")) >= 2, "training needs two people"
        n_candidates = len(eligible) - len(identities_in(folds, fold, "test"))
        n_val = len(identities_in(folds, fold, "val"))
        if val_fraction > 0 and n_candidates >= 4:
            assert 2 <= n_val <= n_candidates - 2
        else:
            assert n_val == 0

    tested = folds[folds["split"] == "test"].groupby("identity")["fold"].nunique()
    assert set(tested.index) == eligible and (tested == 1).all()
    assert not set(folds.loc[folds["split"].isin(["val", "test"]), "identity"]) - eligible
    single = folds[~folds["identity"].isin(eligible)]
    assert (single["split"] == "train").all() and (single["note"] == SINGLE_FACE_NOTE).all()

    test_images = folds[folds["split"] == "test"].groupby("fold").size()
    assert test_images.max() - test_images.min() <= max(sizes)


def test_same_seed_same_folds_and_row_order_does_not_matter():
    table = faces_table([3, 5, 2, 7, 4, 4, 6, 2, 3, 5, 8, 1])
    first = make_folds(table, n_folds=4, seed=7)
    again = make_folds(table.sample(frac=1, random_state=3), n_folds=4, seed=7)
    key = ["fold", "image_id"]
    pd.testing.assert_frame_equal(
        first.sort_values(key).reset_index(drop=True), again.sort_values(key).reset_index(drop=True)
    )


def test_another_seed_gives_other_folds():
    table = faces_table([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])  # all sizes distinct
    partitions = {frozenset(partition_of(make_folds(table, n_folds=5, seed=seed))) for seed in range(6)}
    assert len(partitions) > 1
    validation = [frozenset(identities_in(make_folds(table, n_folds=5, seed=seed), 0, "val")) for seed in range(6)]
    assert len(set(validation)) > 1


def test_folds_are_well_balanced_on_equal_sizes():
    folds = make_folds(faces_table([4] * 20), n_folds=5, seed=0)
    assert set(folds[folds["split"] == "test"].groupby("fold").size()) == {16}


def test_failed_faces_are_not_split():
    table = faces_table([3, 3, 3, 3], failed_per_identity=2)
    folds = make_folds(table, n_folds=2, seed=0)
    assert not folds["image_id"].isin(table.loc[table["status"] != "ok", "image_id"]).any()


def test_two_face_rule_uses_usable_faces_only():
    table = faces_table([1, 3, 3, 3, 3], failed_per_identity=2)  # p0: 3 rows but one usable face
    folds = make_folds(table, n_folds=2, seed=0)
    assert set(folds.loc[folds["identity"] == "p0", "split"]) == {"train"}


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([5], "single identity"),
        ([1, 1, 1], "nobody has two usable faces"),
        ([3, 3, 3, 3, 3, 1], "set folds to at most 2"),
        ([3, 3, 3, 1], "even folds=2 cannot"),
    ],
)
def test_impossible_splits_stop_with_a_clear_message(sizes, message):
    with pytest.raises(SplitError, match=message):
        make_folds(faces_table(sizes), n_folds=3, seed=0)


def test_one_identity_even_with_failed_rows_of_others():
    table = faces_table([4, 0, 0], failed_per_identity=2)
    with pytest.raises(SplitError, match="single identity"):
        make_folds(table, n_folds=2, seed=0)


@pytest.mark.parametrize(
    ("table", "kwargs", "message"),
    [
        (pd.DataFrame({"image_id": ["a"]}), {}, "lacks column"),
        (pd.DataFrame({"image_id": ["a", "a"], "identity": ["x", "y"]}), {}, "repeated: a"),
        (pd.DataFrame({"image_id": ["a", "b"], "identity": ["x", None]}), {}, "no identity"),
        (pd.DataFrame({"image_id": ["a"], "identity": ["x"], "status": ["no_face"]}), {}, "no usable faces"),
        (faces_table([3, 3]), {"n_folds": 1}, "folds must be an integer >= 2"),
        (faces_table([3, 3]), {"val_fraction": 1.0}, "val_fraction"),
    ],
)
def test_bad_input_is_reported(table, kwargs, message):
    with pytest.raises(SplitError, match=message):
        make_folds(table, **{"n_folds": 2, "seed": 0, **kwargs})


def test_split_summary_counts_and_lists_empty_splits():
    folds = make_folds(faces_table([2, 3, 4, 2, 3, 4]), n_folds=3, seed=1, val_fraction=0.2)
    summary = split_summary(folds)
    assert len(summary) == 9  # 3 folds x train/val/test, zero rows included
    assert summary["n_images"].sum() == len(folds)
    for _, row in summary.iterrows():
        part = folds[(folds["fold"] == row["fold"]) & (folds["split"] == row["split"])]
        assert (row["n_images"], row["n_identities"]) == (len(part), part["identity"].nunique())


@pytest.fixture
def ck48_table(ckplus48_root):
    files = sorted(ckplus48_root.glob("*/*.png"))
    return pd.DataFrame(
        {"image_id": [f"{p.parent.name}/{p.stem}" for p in files], "identity": [p.stem.split("_")[0] for p in files]}
    )


def test_ck48_five_folds(ck48_table):
    folds = make_folds(ck48_table, n_folds=5, seed=0)
    summary = split_summary(folds)
    test_rows = summary[summary["split"] == "test"]
    assert test_rows["n_identities"].sum() == ck48_table["identity"].nunique() == 118
    sizes = ck48_table.groupby("identity").size()
    assert test_rows["n_images"].max() - test_rows["n_images"].min() <= sizes.max()
    assert (summary.loc[summary["split"] == "val", "n_identities"] >= 2).all()


def test_one_person_is_never_a_validation_split():
    # 6 people in 2 folds leave 3 candidates: two to validate would leave one to train, one alone validates nothing
    folds = make_folds(faces_table([3] * 6), n_folds=2, seed=0, val_fraction=0.34)
    assert not (folds["split"] == "val").any()
    train_rows = folds[folds["split"] == "train"]
    assert (train_rows["note"] == NO_VAL_NOTE).all()
    assert (train_rows.groupby("fold")["identity"].nunique() == 3).all()
    with_val = make_folds(faces_table([3] * 8), n_folds=2, seed=0, val_fraction=0.34)
    assert (with_val[with_val["split"] == "val"].groupby("fold")["identity"].nunique() == 2).all()


@pytest.mark.parametrize(
    ("n_eligible", "n_identities", "largest"),
    [(4, 4, 2), (5, 5, 2), (6, 6, 3), (4, 5, 2), (3, 10, 0), (10, 10, 5), (10, 11, 5), (213, 213, 106)],
)
def test_largest_supported_folds(n_eligible, n_identities, largest):
    assert largest_supported_folds(n_eligible, n_identities) == largest
    table = faces_table([3] * n_eligible + [1] * (n_identities - n_eligible))
    if largest:
        folds = make_folds(table, n_folds=largest, seed=0)
        per_fold = folds[folds["split"] == "test"].groupby("fold")["identity"].nunique()
        assert len(per_fold) == largest and per_fold.min() >= 2
    with pytest.raises(SplitError, match=f"at most {largest}" if largest else "even folds=2 cannot"):
        make_folds(table, n_folds=max(largest + 1, 2), seed=0)


def test_uneven_people_still_give_every_fold_two_test_identities():
    # the most image-balanced greedy assignment puts the 40-image person alone in a fold; it is not taken
    folds = make_folds(faces_table([40, 2, 2, 2, 2, 2]), n_folds=2, seed=0)
    per_fold = folds[folds["split"] == "test"].groupby("fold")["identity"].nunique()
    assert per_fold.min() >= 2


def test_repeat_zero_is_the_single_assignment_and_other_repeats_draw_new_folds():
    table = faces_table([6] * 12)
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
    folds = make_repeated_folds(faces_table([6] * 12), n_folds=4, repeats=2, seed=0, val_fraction=0.25)
    assert held_out_share(folds) == pytest.approx(1 / 3)  # equal identities: a quarter test, three quarters fit
