"""Verification metrics on synthetic embeddings with known answers."""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest

from emoverify import metrics
from emoverify.metrics import MetricsInputError

# A hand-worked example on a line (Euclidean, score = -distance).
# Identities: A at 0 and 3, B at 7 and 8, C at 4.5, D at 20 (C and D single images).
# Positive distances: A 3, B 1. Negative distances: 1.5 (A3-C), 2.5 (B7-C), 3.5, 4, 4.5,
# 5, 7, 8 and D's five pairs (12..20), so 2 positives and 13 negatives.
# Ranking by score: B(1) N(1.5) N(2.5) A(3) N(3.5) ... ; ROC points
# (0,0) (0,.5) (1/13,.5) (2/13,.5) (2/13,1) ... (1,1).
LINE = np.array([[0.0], [3.0], [7.0], [8.0], [4.5], [20.0]])
LINE_IDS = np.array(["A", "A", "B", "B", "C", "D"])
LINE_EMO = np.array([0, 0, 1, 2, -1, -1])  # A same expression, B different, C and D unknown


def separated_embeddings(n_ids=12, per_id=5, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n_ids), per_id)
    centres = np.eye(dim)[:n_ids] * 10.0
    return centres[ids] + rng.normal(0.0, 0.01, (ids.size, dim)), ids


def test_hand_worked_auc_eer_tar():
    result = metrics.verification_metrics(LINE, LINE_IDS, metric="euclidean")
    assert result["n_positive_pairs"] == 2
    assert result["n_negative_pairs"] == 13
    # B beats all 13 negatives, A beats the 11 farther than 3: (13 + 11) / 26
    assert result["auc"] == pytest.approx(24 / 26)
    # FAR = FRR on the vertical ROC segment at FAR 2/13
    assert result["eer"] == pytest.approx(2 / 13)
    # FAR <= 0.1 allows one false accept (1/13): only B is accepted
    assert result["tar_at_far_1e-1"] == pytest.approx(0.5)
    assert np.isnan(result["tar_at_far_1e-2"])  # 13 negatives < 100
    assert any("TAR at FAR 0.01 needs at least 100" in note for note in result["notes"])
    assert np.isnan(result["balanced_accuracy"])  # no threshold given


def test_hand_worked_balanced_accuracy_and_expression_strata():
    result = metrics.verification_metrics(LINE, LINE_IDS, metric="euclidean", emo=LINE_EMO, threshold=-3.25)
    # distance <= 3.25 called "same": both positives (TAR 1) and 2 of the 13 negatives (TRR 11/13)
    assert result["balanced_accuracy"] == pytest.approx((1 + 11 / 13) / 2)
    # like with like: only A and B have known expressions; same stratum: A's pair (0, 0) and no negative
    # with two equal known expressions; cross stratum: B's pair (1, 2) against A-B negatives with
    # different expressions (0-1 and 0-2: distances 7, 8, 4, 5)
    assert result["n_positive_pairs_same_expression"] == 1 and result["n_negative_pairs_same_expression"] == 0
    assert np.isnan(result["auc_same_expression"])
    assert result["n_positive_pairs_cross_expression"] == 1 and result["n_negative_pairs_cross_expression"] == 4
    assert result["auc_cross_expression"] == pytest.approx(1.0)  # B's distance 1 beats 4, 5, 7, 8


def test_strata_compare_like_with_like():
    """Same-expression positives are ranked against same-expression negatives only, not against all."""
    emb = np.array([[0.0], [1.0], [10.0], [12.0], [0.5], [30.0]])
    ids = np.array(["A", "A", "B", "B", "C", "D"])
    emo = np.array([0, 0, 1, 1, 0, 2])
    result = metrics.verification_metrics(emb, ids, metric="euclidean", emo=emo)
    scores = metrics.pair_scores(emb, "euclidean")
    same = np.equal.outer(ids, ids)[np.triu_indices(6, 1)]
    same_emo = np.equal.outer(emo, emo)[np.triu_indices(6, 1)]
    positives, negatives = scores[same & same_emo], scores[~same & same_emo]
    loop_auc = np.mean([(p > n) + 0.5 * (p == n) for p in positives for n in negatives])
    assert result["auc_same_expression"] == pytest.approx(loop_auc)
    assert result["n_negative_pairs_same_expression"] == len(negatives) == 2  # A-C twice


def test_expression_strata_are_absent_without_labels_and_nan_without_pairs():
    no_labels = metrics.verification_metrics(LINE, LINE_IDS, metric="euclidean")
    assert "auc_same_expression" not in no_labels and "auc_cross_expression" not in no_labels
    all_same = metrics.verification_metrics(LINE, LINE_IDS, metric="euclidean", emo=[0] * 6)
    assert np.isnan(all_same["auc_cross_expression"]) and all_same["n_positive_pairs_cross_expression"] == 0
    assert all_same["auc_same_expression"] == pytest.approx(24 / 26)


def test_choose_threshold_hand_worked():
    # balanced accuracy: accepting through A (distance 3) gives TAR 1 and TRR 11/13 (0.923), better than
    # accepting only B (0.5 + 1) / 2 = 0.75; the cut lies halfway between scores -3 and -3.5
    assert metrics.choose_threshold(LINE, LINE_IDS, metric="euclidean") == pytest.approx(-3.25)


def test_same_session_positives_are_excluded_but_reported_in_all_pairs():
    sessions = np.array(["s1", "s1", "s2", "s3", "", ""])  # A's pair shares a session
    result = metrics.verification_metrics(LINE, LINE_IDS, metric="euclidean", sessions=sessions)
    assert result["n_positive_pairs"] == 1
    assert result["n_negative_pairs"] == 13
    assert result["auc"] == pytest.approx(1.0)  # only B's pair is left
    assert result["n_positive_pairs_all_pairs"] == 2
    assert result["auc_all_pairs"] == pytest.approx(24 / 26)

    kept = metrics.verification_metrics(
        LINE, LINE_IDS, metric="euclidean", sessions=sessions, exclude_same_session=False
    )
    assert kept["n_positive_pairs"] == 2


def test_unknown_sessions_never_exclude():
    sessions = np.array(["", "", "", "", "", ""])
    result = metrics.verification_metrics(LINE, LINE_IDS, metric="euclidean", sessions=sessions)
    assert result["n_positive_pairs"] == 2


def test_negative_pairs_sharing_a_session_stay_negatives():
    sessions = np.array(["s1"] * 6)  # everything filmed in one session
    result = metrics.verification_metrics(LINE, LINE_IDS, metric="euclidean", sessions=sessions)
    assert result["n_positive_pairs"] == 0
    assert result["n_negative_pairs"] == 13
    assert np.isnan(result["auc"])
    assert any("no positive pairs" in note for note in result["notes"])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_perfect_separation_gives_auc_one_and_eer_zero(metric):
    emb, ids = separated_embeddings()
    result = metrics.verification_metrics(emb, ids, metric=metric)
    assert result["auc"] == 1.0
    assert result["eer"] == 0.0
    assert result["tar_at_far_1e-1"] == 1.0
    assert result["tar_at_far_1e-2"] == 1.0  # 12*11/2*25 = 1650 negatives >= 100
    threshold = metrics.choose_threshold(emb, ids, metric=metric)
    assert metrics.verification_metrics(emb, ids, metric=metric, threshold=threshold)["balanced_accuracy"] == 1.0


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_random_embeddings_give_chance(metric):
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(40), 8)
    result = metrics.verification_metrics(rng.normal(size=(ids.size, 32)), ids, metric=metric)
    assert result["auc"] == pytest.approx(0.5, abs=0.05)
    assert result["eer"] == pytest.approx(0.5, abs=0.05)
    assert result["tar_at_far_1e-1"] == pytest.approx(0.1, abs=0.05)


def test_auc_matches_a_plain_loop_over_pairs():
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(30, 4))
    ids = rng.integers(0, 6, 30)
    sessions = rng.choice(["a", "b", ""], 30)
    pos, neg = [], []
    for i, j in itertools.combinations(range(30), 2):
        if ids[i] == ids[j] and sessions[i] == sessions[j] and sessions[i] != "":
            continue
        cos = emb[i] @ emb[j] / np.linalg.norm(emb[i]) / np.linalg.norm(emb[j])
        (pos if ids[i] == ids[j] else neg).append(cos)
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    result = metrics.verification_metrics(emb, ids, metric="cosine", sessions=sessions)
    assert result["n_positive_pairs"] == len(pos)
    assert result["n_negative_pairs"] == len(neg)
    assert result["auc"] == pytest.approx(wins / (len(pos) * len(neg)))


def test_pair_scores_follow_upper_triangle_order():
    emb = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert metrics.pair_scores(emb, "euclidean") == pytest.approx([-5.0, -10.0, -5.0])
    unit = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    assert metrics.pair_scores(unit, "cosine") == pytest.approx([0.0, -1.0, 0.0])


def test_threshold_comes_from_validation_data_only():
    # the API offers no way to hand test data to the threshold choice
    assert list(inspect.signature(metrics.choose_threshold).parameters) == ["emb", "ids", "metric", "sessions"]
    rng = np.random.default_rng(3)
    val_ids = np.repeat(np.arange(10), 4)
    val = np.eye(10)[val_ids] + rng.normal(0.0, 0.3, (40, 10))
    threshold = metrics.choose_threshold(val, val_ids, metric="euclidean")

    # a test set whose best cut is far from the validation one
    test_ids = np.repeat(np.arange(10), 4)
    test = 3.0 * np.eye(10)[test_ids] + rng.normal(0.0, 0.3, (40, 10))
    result = metrics.verification_metrics(test, test_ids, metric="euclidean", threshold=threshold)
    scores = metrics.pair_scores(test, "euclidean")
    same = np.equal.outer(test_ids, test_ids)[np.triu_indices(40, 1)]

    def balanced(cut):
        return (np.mean(scores[same] >= cut) + np.mean(scores[~same] < cut)) / 2

    assert result["balanced_accuracy"] == pytest.approx(balanced(threshold))
    best_on_test = metrics.choose_threshold(test, test_ids, metric="euclidean")
    assert best_on_test != pytest.approx(threshold, abs=0.1)
    assert result["balanced_accuracy"] < balanced(best_on_test)


def test_choose_threshold_can_reject_everything():
    # negatives score higher than the only positive: rejecting all pairs is best
    emb = np.array([[0.0], [10.0], [5.0], [6.0]])
    threshold = metrics.choose_threshold(emb, ["A", "A", "B", "C"], metric="euclidean")
    assert threshold > metrics.pair_scores(emb, "euclidean").max()


def test_choose_threshold_needs_both_kinds_of_pairs():
    with pytest.raises(MetricsInputError, match="positive and negative validation pairs"):
        metrics.choose_threshold(np.eye(3), ["A", "B", "C"], metric="cosine")


def test_rank1_perfect_and_random():
    emb, ids = separated_embeddings()
    assert metrics.rank1_identification(emb, ids, metric="cosine") == 1.0
    rng = np.random.default_rng(4)
    ids = np.repeat(np.arange(50), 4)
    chance = metrics.rank1_identification(rng.normal(size=(200, 32)), ids, metric="cosine", n_draws=20)
    assert chance == pytest.approx(1 / 50, abs=0.02)


def test_rank1_single_image_identities_are_distractors():
    # A at 0 and 10, B at 100 and 101; C's single image at 9 sits between A's two
    emb = np.array([[0.0], [10.0], [100.0], [101.0]])
    ids = ["A", "A", "B", "B"]
    assert metrics.rank1_identification(emb, ids, metric="euclidean") == 1.0
    with_c = metrics.rank1_identification(np.vstack([emb, [[9.0]]]), ids + ["C"], metric="euclidean")
    assert with_c == pytest.approx(0.5)  # A's probe always lands on C, B's is right


def test_rank1_skips_same_session_probes():
    emb = np.array([[0.0], [1.0], [40.0], [100.0], [101.0]])
    ids = ["A", "A", "A", "B", "B"]
    # A's images 0 and 1 share a session; B's two images share one too
    sessions = ["a1", "a1", "a2", "b1", "b1"]
    value = metrics.rank1_identification(emb, ids, metric="euclidean", sessions=sessions, n_draws=30)
    # scored probes: only A's across sessions (40 against a gallery image at 0 or 1, or the
    # reverse), each closer to A's gallery image than to B's (100 or 101) -> all right
    assert value == 1.0
    assert np.isnan(metrics.rank1_identification(emb[3:], ids[3:], metric="euclidean", sessions=sessions[3:]))


def test_rank1_is_reproducible_for_a_seed():
    rng = np.random.default_rng(5)
    emb, ids = rng.normal(size=(60, 8)), np.repeat(np.arange(15), 4)
    first = metrics.rank1_identification(emb, ids, metric="cosine", seed=7)
    assert first == metrics.rank1_identification(emb, ids, metric="cosine", seed=7)


def test_roc_points_span_zero_to_one():
    far, tar = metrics.roc_points(LINE, LINE_IDS, metric="euclidean")
    assert far[0] == 0.0 and tar[-1] == 1.0 and far[-1] == 1.0
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
    assert np.any(np.isclose(far, 1 / 13) & np.isclose(tar, 0.5))


def test_large_test_set_fits():
    rng = np.random.default_rng(6)
    ids = rng.integers(0, 100, 2000)
    result = metrics.verification_metrics(rng.normal(size=(2000, 16)), ids, metric="cosine")
    assert result["n_positive_pairs"] + result["n_negative_pairs"] == 2000 * 1999 // 2


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: metrics.verification_metrics(np.ones((3, 2)), [1, 2], metric="cosine"), "one entry per"),
        (lambda: metrics.verification_metrics(np.ones(3), [1, 2, 3], metric="cosine"), "2-D"),
        (lambda: metrics.verification_metrics(np.ones((3, 2)), [1, 2, 3], metric="l1"), "metric must be"),
        (lambda: metrics.verification_metrics([[np.nan, 1.0], [1.0, 1.0]], [1, 2], metric="cosine"), "NaN"),
        (lambda: metrics.verification_metrics([[0.0, 0.0], [1.0, 1.0]], [1, 2], metric="cosine"), "zero embedding"),
        (lambda: metrics.verification_metrics(np.ones((1, 2)), [1], metric="cosine"), "at least 2"),
        (lambda: metrics.verification_metrics(np.eye(3), [1, 1, 2], metric="cosine", emo=[0]), "emo"),
        (lambda: metrics.rank1_identification(np.eye(3), [1, 1, 2], metric="cosine", n_draws=0), "n_draws"),
        (lambda: metrics.roc_points(np.eye(3), [1, 2, 3], metric="cosine"), "positive and negative"),
    ],
)
def test_bad_input_gives_a_clear_error(call, message):
    with pytest.raises(MetricsInputError, match=message):
        call()


@pytest.mark.parametrize("seed", range(6))
def test_numpy_roc_matches_scikit_learn_ties_included(seed):
    from sklearn import metrics as sk

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    labels = rng.random(n) < rng.uniform(0.05, 0.6)
    labels[:2] = [True, False]
    scores = np.round(rng.normal(size=n) + labels, int(rng.integers(0, 3)))  # rounding makes ties
    far, tar, thresholds = metrics.roc_curve(labels, scores)
    sk_far, sk_tar, sk_thresholds = sk.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(far, sk_far)
    np.testing.assert_allclose(tar, sk_tar)
    np.testing.assert_array_equal(thresholds[1:], sk_thresholds[1:])
    assert metrics.auc(far, tar) == pytest.approx(sk.auc(sk_far, sk_tar), abs=1e-12)
    assert metrics.roc_auc_score(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores), abs=1e-12)


def test_training_and_evaluation_import_no_scikit_learn_or_matplotlib():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; import emoverify.training.loop, emoverify.evaluation.verification, emoverify.model.checkpoint;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'matplotlib', 'scipy'}))"
    )
    workflow = Path(metrics.__file__).resolve().parents[1]  # this checkout's library, not an installed one
    env = {**os.environ, "PYTHONPATH": str(workflow)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_validation_figures_equal_the_full_metrics_on_random_inputs(metric):
    rng = np.random.default_rng(3)
    for people, per_person in [(30, 4), (8, 3), (2, 2)]:
        ids = np.repeat(np.arange(people), per_person)
        emb = rng.normal(size=(len(ids), 8)) + 1.5 * rng.normal(size=(people, 8))[ids]
        sessions = rng.choice(["", "a", "b"], size=len(ids))
        full = metrics.verification_metrics(emb, ids, metric=metric, sessions=sessions)
        light = metrics.validation_figures(emb, ids, metric=metric, sessions=sessions)
        assert list(light) == list(metrics.VALIDATION_FIGURES)
        for name in metrics.VALIDATION_FIGURES:
            assert light[name] == full[name] or (np.isnan(light[name]) and np.isnan(full[name])), name


def _tied_scores(rng, n):
    """Scores with many ties (rounded), signed zeros among them, and both classes."""
    labels = rng.random(n) < rng.uniform(0.02, 0.6)
    labels[:2] = [True, False]
    scores = np.round(rng.normal(size=n) + labels, int(rng.integers(0, 4)))
    scores[rng.random(n) < 0.05] = -0.0
    return labels, scores


@pytest.mark.parametrize("seed", range(12))
def test_roc_rates_are_roc_curves_rates_to_the_bit(seed):
    rng = np.random.default_rng(seed)
    labels, scores = _tied_scores(rng, int(rng.integers(2, 5000)))
    far, tar, _ = metrics.roc_curve(labels, scores)
    fast_far, fast_tar = metrics.roc_rates(labels, scores)
    assert fast_far.tobytes() == far.tobytes() and fast_tar.tobytes() == tar.tobytes()


def _validation_figures_the_old_way(emb, ids, metric, sessions):
    """Every epoch's figures as they were computed before the pairs were kept: pairs rebuilt, roc_curve's argsort."""
    pairs = metrics.build_pairs(emb, ids, metric=metric, sessions=sessions)
    keep = pairs.evaluated(True)
    labels, scores = pairs.same[keep], pairs.score[keep]
    if not (labels.any() and (~labels).any()):
        return dict.fromkeys(metrics.VALIDATION_FIGURES, float("nan"))
    far, tar, _ = metrics.roc_curve(labels, scores)
    n_negative = int((~labels).sum())
    figures = {"auc": metrics.auc(far, tar)}
    for name, level in metrics.FAR_LEVELS.items():
        figures[name] = metrics.tar_at_far(far, tar, level, n_negative)
    return figures


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kept_validation_pairs_score_every_epoch_as_rebuilt_pairs_do(metric):
    """One ValidationPairs scoring a run's successive embeddings (coarse values: tied scores; the first one
    remembered and scored again, as a job's runs share epoch 0) gives the old per-epoch computation's figures
    to the bit."""
    rng = np.random.default_rng(7)
    ids = np.repeat([f"p{i}" for i in range(40)], rng.integers(1, 7, size=40))
    sessions = rng.choice(["", "s1", "s2"], size=len(ids))
    kept = metrics.ValidationPairs(ids, sessions)
    epochs = [np.round(rng.normal(size=(len(ids), 6)), 1) for _ in range(6)]
    for emb in [*epochs, epochs[5], epochs[0], epochs[3].astype(np.float32)]:
        expected = _validation_figures_the_old_way(emb, ids, metric, sessions)
        got = kept.figures(emb, metric, remember=emb is epochs[0])
        assert list(got) == list(metrics.VALIDATION_FIGURES)
        assert np.array(list(got.values())).tobytes() == np.array(list(expected.values())).tobytes()
    with pytest.raises(MetricsInputError, match="3 embeddings for"):
        kept.figures(epochs[0][:3], metric)
