"""Every label source's meaning (LabelSource): manual, detected, none, the shuffled controls, the confidence
threshold and min_expression_images."""

import numpy as np
import pandas as pd
import pytest
import torch

from emoverify import losses, study
from emoverify.labels.sources import SHUFFLE_SEED, LabelSource, LabelSourceError, session_blocks, shuffled_expressions
from emoverify.registry import expression_losses
from emoverify.splits.fold_data import expression_codes, train_ids
from emoverify.splits.folds import make_repeated_folds

MANUAL = LabelSource("manual")
SHUFFLED = LabelSource("shuffled", shuffle_base="manual")
SHUFFLED_ACROSS = LabelSource("shuffled_across", shuffle_base="manual")


def run_expressions(table, label_source, folds=None, *, repeat=0, fold=0, detected=None):
    """What a run of ``label_source`` on fold unit (repeat, fold) shows its losses."""
    train = None if folds is None else train_ids(folds, repeat, fold)
    return label_source.expressions(table, detected, train, repeat=repeat, fold=fold)


def hand_made():
    """Two people: x with a two-image session, a one-image session and an unlabelled image; y with three
    single images; and fer's labels with their confidences."""
    manifest = pd.DataFrame(
        {
            "image_id": ["x1", "x2", "x3", "x4", "y1", "y2", "y3"],
            "identity": ["x", "x", "x", "x", "y", "y", "y"],
            "session": ["s1", "s1", "s2", "", "", "", ""],
            "emotion_manual": ["happy", "happiness", "AN", "", "sadness", "neutral", "surprise"],
            "status": ["ok"] * 7,
        }
    )
    detected = pd.DataFrame(
        {
            "image_id": manifest["image_id"],
            "emotion_detected": ["happiness", "neutral", "anger", "fear", "sadness", "sadness", "surprise"],
            "confidence": [0.9, 0.3, 0.8, 0.7, 0.6, 0.45, 0.95],
        }
    )
    return manifest, detected


def test_each_source_gives_the_expressions_its_name_promises_on_a_hand_made_manifest():
    manifest, detected = hand_made()
    every = manifest["image_id"].tolist()
    manual = MANUAL.expressions(manifest, None).to_dict()
    assert manual == {
        "x1": "happiness",
        "x2": "happiness",
        "x3": "anger",
        "x4": "",
        "y1": "sadness",
        "y2": "neutral",
        "y3": "surprise",
    }
    fer = LabelSource("detected", confidence_threshold=0.5).expressions(manifest, detected).to_dict()
    assert fer == {
        "x1": "happiness",
        "x2": "",
        "x3": "anger",
        "x4": "fear",
        "y1": "sadness",
        "y2": "",
        "y3": "surprise",
    }
    assert set(LabelSource("none").expressions(manifest, detected)) == {""}
    shuffled = SHUFFLED.expressions(manifest, None, every, fold=1)
    # x's labelled blocks (session s1: 2 images, s2: 1) differ in size, so nothing of x moves; y's single
    # images trade labels among themselves
    assert shuffled[["x1", "x2", "x3", "x4"]].tolist() == ["happiness", "happiness", "anger", ""]
    assert sorted(shuffled[["y1", "y2", "y3"]]) == ["neutral", "sadness", "surprise"]
    draws = {tuple(SHUFFLED.expressions(manifest, None, every, fold=fold)[["y1", "y2", "y3"]]) for fold in range(8)}
    assert len(draws) > 1  # another fold unit, another permutation
    across = SHUFFLED_ACROSS.expressions(manifest, None, ["x1", "x3", "y1"], fold=0)
    assert across[["x2", "x4", "y2", "y3"]].tolist() == ["happiness", "", "neutral", "surprise"]  # not training
    assert sorted(across[["x1", "x3", "y1"]]) == ["anger", "happiness", "sadness"]


def test_a_shuffle_of_detected_labels_permutes_them_after_the_threshold():
    manifest, detected = hand_made()
    source = LabelSource("shuffled", shuffle_base="detected", confidence_threshold=0.5)
    shuffled = source.expressions(manifest, detected, manifest["image_id"], fold=2)
    fer = LabelSource("detected", confidence_threshold=0.5).expressions(manifest, detected)
    for person in ("x", "y"):
        mine = manifest.loc[manifest["identity"] == person, "image_id"]
        assert sorted(shuffled[mine]) == sorted(fer[mine])


def test_a_shuffled_source_needs_the_training_images():
    manifest, _ = hand_made()
    with pytest.raises(LabelSourceError, match="shuffles a fold's training labels: pass train_ids"):
        SHUFFLED.expressions(manifest, None)


def test_the_config_builds_each_source_with_only_what_it_reads():
    labels = {"confidence_threshold": 0.4, "shuffle_source": "detected", "min_expression_images": 0}
    assert LabelSource.from_config(labels, "manual") == LabelSource("manual")
    assert LabelSource.from_config(labels, "detected") == LabelSource("detected", confidence_threshold=0.4)
    assert LabelSource.from_config(labels, "shuffled") == LabelSource("shuffled", "detected", 0.4)
    assert LabelSource.from_config(labels, "shuffled").reads == {"detected"}
    assert LabelSource.from_config(labels, "none").reads == set()
    labels.update(shuffle_source="manual", min_expression_images=5)
    assert LabelSource.from_config(labels, "shuffled_across") == LabelSource("shuffled_across", "manual", None, 5)
    assert LabelSource.from_config(labels, "none") == LabelSource("none")


@pytest.mark.parametrize(
    "label_source",
    [LabelSource("manual"), LabelSource("detected", None, 0.4), LabelSource("shuffled", "manual", None, 20)],
)
def test_rule_params_rebuild_the_same_source_and_leave_out_the_defaults(label_source):
    params = label_source.to_params()
    assert LabelSource.from_params(params) == label_source
    assert all(value is not None for value in params.values()) and params.get("min_expression_images", 2) > 1
    assert LabelSource("manual").to_params() == {"name": "manual"}


def test_rule_params_of_another_shape_are_refused():
    with pytest.raises(LabelSourceError, match="needs 'name'.*LabelSource.to_params"):
        LabelSource.from_params({"source": "manual"})


def faces_table(n_identities=12, per_identity=6):
    emotions = ["anger", "happiness", "neutral", "sadness", "surprise", ""]
    rows = [
        {"image_id": f"p{p}_{i}", "identity": f"p{p}", "status": "ok", "emotion_manual": emotions[(p + i) % 6]}
        for p in range(n_identities)
        for i in range(per_identity)
    ]
    return pd.DataFrame(rows)


def test_shuffled_across_permutes_the_training_images_only_and_keeps_class_frequencies():
    table = faces_table()
    folds = make_repeated_folds(table, n_folds=3, repeats=2, seed=0, val_fraction=0.25)
    manual = run_expressions(table, MANUAL)
    shuffled = run_expressions(table, SHUFFLED_ACROSS, folds, repeat=1, fold=2)
    unit = folds[(folds["repeat"] == 1) & (folds["fold"] == 2)]
    train = unit.loc[unit["split"] == "train", "image_id"].tolist()
    others = unit.loc[unit["split"] != "train", "image_id"].tolist()
    assert (shuffled[others] == manual[others]).all()
    assert sorted(shuffled[train]) == sorted(manual[train])
    assert (shuffled[train] != manual[train]).mean() > 0.5
    unknown = manual[train] == ""
    assert (shuffled[train][unknown] == "").all()  # unknown labels stay unknown
    again = run_expressions(table, SHUFFLED_ACROSS, folds, repeat=1, fold=2)
    pd.testing.assert_series_equal(again, shuffled)  # the same for every method and seed of the unit
    other_unit = shuffled_expressions(manual, train, repeat=0, fold=2)
    assert not other_unit[train].equals(shuffled[train])
    assert np.array_equal(np.sort(other_unit[train].to_numpy()), np.sort(manual[train].to_numpy()))


def random_table(rng, n_identities=15, with_sessions=False):
    """Random people with random label histograms (some unknown), and random sessions when asked."""
    emotions = ["anger", "happiness", "neutral", "sadness", "surprise", "fear", ""]
    rows = []
    for p in range(n_identities):
        n_sessions = int(rng.integers(1, 5))
        for s in range(n_sessions):
            label = emotions[int(rng.integers(len(emotions)))]
            for i in range(int(rng.integers(1, 4))):
                own = label if with_sessions else emotions[int(rng.integers(len(emotions)))]
                session = f"p{p}_s{s}" if with_sessions and rng.random() > 0.1 else ""
                rows.append(
                    {
                        "image_id": f"p{p}_{s}_{i}",
                        "identity": f"p{p}",
                        "status": "ok",
                        "emotion_manual": own,
                        "session": session,
                    }
                )
    return pd.DataFrame(rows)


def loss_pairs(table, labels, image_ids):
    """Pairs (quadruples, labelled samples) of every expression loss over the given training images."""
    identities = table.set_index("image_id").loc[image_ids, "identity"]
    ids = torch.as_tensor(np.unique(identities.to_numpy(), return_inverse=True)[1])
    emo = torch.as_tensor(expression_codes(labels.loc[image_ids].tolist()))
    return {name: losses.pairs_used(name, ids, emo) for name in expression_losses()}


@pytest.mark.parametrize("with_sessions", [False, True])
@pytest.mark.parametrize("draw", range(6))
def test_within_identity_shuffle_keeps_every_histogram_and_every_losss_pairs(draw, with_sessions):
    rng = np.random.default_rng(draw)
    table = random_table(rng, with_sessions=with_sessions)
    folds = make_repeated_folds(table, n_folds=3, repeats=1, seed=draw, val_fraction=0.25)
    manual = run_expressions(table, MANUAL)
    for fold in range(3):
        shuffled = run_expressions(table, SHUFFLED, folds, repeat=0, fold=fold)
        unit = folds[folds["fold"] == fold]
        train = unit.loc[unit["split"] == "train", "image_id"].tolist()
        others = unit.loc[unit["split"] != "train", "image_id"].tolist()
        assert (shuffled[others] == manual[others]).all()
        person = table.set_index("image_id")["identity"]
        for identity in person[train].unique():
            mine = [image for image in train if person[image] == identity]
            assert sorted(shuffled[mine]) == sorted(manual[mine])  # the label histogram, unknowns included
            assert ((shuffled[mine] == "") == (manual[mine] == "")).all()  # unknown stays unknown
        assert loss_pairs(table, shuffled, train) == loss_pairs(table, manual, train)
    moved = (shuffled[train] != manual[train]).mean()
    assert moved > 0  # a control that changes labels, not the identity permutation


def test_within_identity_shuffle_moves_whole_sessions_together():
    rng = np.random.default_rng(3)
    table = random_table(rng, n_identities=20, with_sessions=True)
    folds = make_repeated_folds(table, n_folds=3, repeats=1, seed=0, val_fraction=0.25)
    shuffled = run_expressions(table, SHUFFLED, folds, fold=1)
    rows = table.set_index("image_id")
    unit = folds[folds["fold"] == 1]
    train = unit.loc[unit["split"] == "train", "image_id"]
    sessions = rows.loc[train, "session"]
    for session, images in sessions[sessions != ""].groupby(sessions[sessions != ""]).groups.items():
        known = [image for image in images if rows.loc[image, "emotion_manual"] != ""]
        assert shuffled[known].nunique() <= 1, session  # a session's labels move as one


def test_the_across_person_control_changes_pair_counts_where_the_within_identity_one_does_not():
    rng = np.random.default_rng(11)
    table = random_table(rng, n_identities=20)
    folds = make_repeated_folds(table, n_folds=3, repeats=1, seed=0, val_fraction=0.25)
    train = folds[(folds["fold"] == 0) & (folds["split"] == "train")]["image_id"].tolist()
    manual = run_expressions(table, MANUAL)
    across = run_expressions(table, SHUFFLED_ACROSS, folds)
    assert loss_pairs(table, across, train) != loss_pairs(table, manual, train)


def test_expressions_on_fewer_faces_than_the_minimum_become_unknown_before_the_shuffle():
    table = faces_table()
    table.loc[table["emotion_manual"] == "anger", "emotion_manual"] = ""  # anger: 0 images
    table.loc[[0, 7], "emotion_manual"] = "fear"  # fear: 2 usable images
    table.loc[table.index[-1], ["emotion_manual", "status"]] = ["disgust", "no_face"]  # not a usable face
    table.loc[table.index[-2], "emotion_manual"] = "disgust"  # disgust: 1 usable image (2 rows)
    counts = table.loc[table["status"] == "ok", "emotion_manual"].value_counts()
    assert counts["fear"] == 2 and counts["disgust"] == 1 and counts["sadness"] >= 3
    kept = run_expressions(table, LabelSource("manual", min_expression_images=3))
    plain = run_expressions(table, MANUAL)
    rare = plain.isin(["fear", "disgust"])
    assert (kept[rare] == "").all() and rare.sum() == 4
    assert (kept[~rare] == plain[~rare]).all()  # every other label as it was
    assert run_expressions(table, LabelSource("manual", min_expression_images=2)).eq("fear").sum() == 2
    folds = make_repeated_folds(table, n_folds=3, repeats=1, seed=0, val_fraction=0.25)
    shuffled = run_expressions(table, LabelSource("shuffled", "manual", None, 3), folds, fold=1)
    assert not shuffled.isin(["fear", "disgust"]).any()  # the shuffle permutes the kept labels only
    assert sorted(shuffled) == sorted(kept)


def test_the_minimum_reaches_label_runs_and_batches_only_when_set():
    labels = {"confidence_threshold": 0.4, "shuffle_source": "manual", "min_expression_images": 0}
    config = {"labels": labels, "training": {"sampler": "expression_pairs", "sampler_labels": "manual"}}
    assert study.label_params(config, "manual") == {"name": "manual"}
    labels["min_expression_images"] = 20
    assert study.label_params(config, "detected")["min_expression_images"] == 20
    assert study.label_params(config, "shuffled")["min_expression_images"] == 20
    assert study.batch_label_params(config)["min_expression_images"] == 20
    assert "min_expression_images" not in study.label_params(config, "none")


def shuffled_by_pandas_lookups(base, train_ids, *, repeat, fold, identities, sessions):
    """The within-person shuffle as first written, a pandas lookup and assignment per block."""
    shuffled = base.copy()
    known = [image for image in train_ids if shuffled.get(image, "") != ""]
    rng = np.random.default_rng([SHUFFLE_SEED, repeat, fold])
    for blocks in session_blocks(known, identities, sessions):
        order = rng.permutation(len(blocks))
        labels = [shuffled.loc[block].to_numpy() for block in blocks]
        for block, source in zip(blocks, order):
            shuffled.loc[block] = labels[source]
    return shuffled


@pytest.mark.parametrize("seed", range(4))
def test_the_within_person_shuffle_equals_its_per_block_form(seed):
    rng = np.random.default_rng(seed)
    images = [f"img{i}" for i in range(400)]
    people = pd.Series(rng.integers(0, 40, size=400).astype(str), index=images)
    sessions = pd.Series(rng.choice(["", "", "a", "b", "c"], size=400), index=images)
    base = pd.Series(rng.choice(["", "happiness", "neutral", "anger", "surprise"], size=400), index=images)
    train = [image for image in images if rng.random() < 0.7]
    for with_sessions in (sessions, None):
        kwargs = {"repeat": seed, "fold": 1, "identities": people, "sessions": with_sessions}
        expected = shuffled_by_pandas_lookups(base, train, **kwargs)
        assert shuffled_expressions(base, train, **kwargs).equals(expected)
        assert not expected.equals(base)


def people_apart():
    """Six people, three faces each. Fold 0 trains on a, b, c, validates on d and tests x and y; fold 1 trains on
    d, x, y, validates on c and tests a and b. Fear is held by the test people x and y alone (5 faces), neutral by
    the validating d alone, sadness by two training faces and one test face."""
    labels = {
        "a": ["happiness", "happiness", "sadness"],
        "b": ["happiness", "sadness", "anger"],
        "c": ["anger", "anger", "happiness"],
        "d": ["neutral", "neutral", "neutral"],
        "x": ["fear", "fear", "sadness"],
        "y": ["fear", "fear", "fear"],
    }
    manifest = pd.DataFrame(
        [
            {"image_id": f"{person}{i}", "identity": person, "emotion_manual": label, "status": "ok"}
            for person, shown in labels.items()
            for i, label in enumerate(shown)
        ]
    )
    splits = [
        {"a": "train", "b": "train", "c": "train", "d": "val", "x": "test", "y": "test"},
        {"d": "train", "x": "train", "y": "train", "c": "val", "a": "test", "b": "test"},
    ]
    folds = pd.concat(
        [
            manifest[["image_id", "identity"]].assign(repeat=0, fold=fold, split=manifest["identity"].map(split))
            for fold, split in enumerate(splits)
        ],
        ignore_index=True,
    )
    return manifest, folds


TRAINING_COUNTED = LabelSource("manual", min_expression_images=3, min_expression_images_on="training")


def test_min_expression_images_on_training_ignores_test_and_validation_peoples_labels():
    manifest, folds = people_apart()
    plain = run_expressions(manifest, MANUAL)
    counted_on_all = LabelSource("manual", min_expression_images=3)
    assert counted_on_all.rare_expressions(manifest, None) == []  # every expression on 3 faces or more
    assert run_expressions(manifest, counted_on_all).equals(plain)
    fold0 = run_expressions(manifest, TRAINING_COUNTED, folds, fold=0)
    # fold 0's training faces: happiness 4, anger 3, sadness 2, and neither fear nor neutral
    assert TRAINING_COUNTED.rare_expressions(manifest, None, train_ids(folds, 0, 0)) == ["fear", "neutral", "sadness"]
    made_unknown = plain.isin(["fear", "neutral", "sadness"])
    assert (fold0[made_unknown] == "").all() and made_unknown.sum() == 11  # test and validation faces too
    assert fold0[~made_unknown].equals(plain[~made_unknown])
    # fold 1 trains on d, x, y: fear 5 and neutral 3 stay, happiness, anger and sadness (one face each) go
    assert TRAINING_COUNTED.rare_expressions(manifest, None, train_ids(folds, 0, 1)) == [
        "anger",
        "happiness",
        "sadness",
    ]
    fold1 = run_expressions(manifest, TRAINING_COUNTED, folds, fold=1)
    assert set(fold1) == {"fear", "neutral", ""} and fold1.eq("fear").sum() == 5


def test_counting_on_training_people_needs_them_and_reaches_the_rule_params():
    manifest, folds = people_apart()
    with pytest.raises(LabelSourceError, match="training people.*pass train_ids"):
        TRAINING_COUNTED.expressions(manifest, None)
    shuffled = LabelSource("shuffled", "manual", None, 3, "training")
    kept = run_expressions(manifest, shuffled, folds, fold=0)
    assert not kept.isin(["fear", "neutral", "sadness"]).any()  # the shuffle permutes the kept labels only
    labels = {"confidence_threshold": 0.4, "shuffle_source": "manual", "min_expression_images": 3}
    config = {"labels": labels, "training": {"sampler": "expression_pairs", "sampler_labels": "manual"}}
    assert study.label_params(config, "manual") == {"name": "manual", "min_expression_images": 3}  # all: left out
    labels["min_expression_images_on"] = "training"
    assert LabelSource.from_params(study.label_params(config, "shuffled")) == shuffled
    assert study.batch_label_params(config)["min_expression_images_on"] == "training"
    assert study.label_params(config, "none") == {"name": "none"}
    assert not LabelSource.from_config({**labels, "min_expression_images": 0}, "manual").counts_per_fold


def test_a_runs_facts_carry_the_expressions_its_fold_made_unknown():
    from emoverify.model.checkpoint import training_facts

    facts = training_facts({"best_epoch": 1, "epochs_run": 2, "rare_expressions": "fear, neutral"})
    assert facts["rare_expressions"] == "fear, neutral"
    assert "rare_expressions" not in training_facts({"best_epoch": 1, "epochs_run": 2})


def test_the_manipulation_checks_true_labels_count_on_the_fold_units_training_people(tmp_path):
    from emoverify.evaluation.manipulation import study_truth

    manifest, folds = people_apart()
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    folds.to_csv(tmp_path / "folds.csv", index=False)
    params = TRAINING_COUNTED.to_params()
    assert params["min_expression_images_on"] == "training"
    truth = study_truth(tmp_path / "manifest.csv", params, folds_path=tmp_path / "folds.csv", repeat=0, fold=1)
    assert truth.expressions.eq("fear").sum() == 5 and not truth.expressions.isin(["anger", "happiness"]).any()
    with pytest.raises(ValueError, match="pass folds_path"):
        study_truth(tmp_path / "manifest.csv", params)
    every = study_truth(tmp_path / "manifest.csv", LabelSource("manual", min_expression_images=3).to_params())
    assert every.expressions.eq("happiness").sum() == 4  # counted on everyone: nothing made unknown
