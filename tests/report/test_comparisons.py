"""Paired comparisons over fold units, recomputed independently, and the primary test's error rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from report_runs import write_run, write_study
from scipy import stats

from emoverify.report import comparisons, runs_table


@pytest.fixture
def study(tmp_path):
    """tl (no labels) and tl_fbv (manual) on 4 folds, plus one missing and one broken run."""
    return write_study(tmp_path)


def constant_difference_runs(tmp_path, n=6, delta=0.05):
    rng = np.random.default_rng(0)
    paths = []
    for fold in range(n):
        base = float(rng.uniform(0.6, 0.9))
        paths.append(write_run(tmp_path, "tl", "none", fold, 0, {"auc": base}))
        for labels in ("manual", "detected"):
            paths.append(write_run(tmp_path, "tl_pdp", labels, fold, 0, {"auc": base + delta}))
    return runs_table.collect_runs(paths)


def test_constant_difference_has_known_answer(tmp_path):
    runs = constant_difference_runs(tmp_path, n=6)
    table = comparisons.significance(runs, {"tl_pdp": "tl"}, metrics=["auc"], test_share=0.25)
    assert list(table["labels"]) == ["manual", "detected"]
    for _, row in table.iterrows():
        assert row["baseline_labels"] == "none" and row["n_units"] == 6
        assert row["mean_diff"] == pytest.approx(0.05)
        assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((0.05, 0.05))
        assert row["p"] == 0.0 and row["detectable_diff"] == pytest.approx(0.0)
        # all 6 differences positive: exact two-sided p = 2 / 2**6
        assert row["wilcoxon_p"] == pytest.approx(2 / 2**6)


def test_corrected_t_test_against_its_formula():
    d = np.array([0.02, -0.01, 0.04, 0.03, 0.00, 0.05, -0.02, 0.01, 0.03, 0.02])
    share = 1 / 4  # 5 folds: a fifth of the people test, four fifths train
    result = comparisons.corrected_t_test(d, share)
    J, mean, sd = d.size, d.mean(), d.std(ddof=1)
    scale = sd * math.sqrt(1 / J + share)  # Nadeau and Bengio's corrected standard error
    assert result["n_units"] == J and result["mean_diff"] == pytest.approx(mean)
    assert result["p"] == pytest.approx(2 * stats.t.sf(abs(mean) / scale, J - 1))
    half = stats.t.ppf(0.975, J - 1) * scale
    assert (result["ci95_low"], result["ci95_high"]) == pytest.approx((mean - half, mean + half))
    assert result["sd_diff"] == pytest.approx(sd)
    # the detectable difference is where the noncentral t gives the two-sided test 80 % power
    critical, shift = stats.t.ppf(0.975, J - 1), result["detectable_diff"] / scale
    power = stats.nct.sf(critical, J - 1, shift) + stats.nct.cdf(-critical, J - 1, shift)
    assert power == pytest.approx(0.8, abs=1e-6)
    assert result["wilcoxon_p"] == pytest.approx(stats.wilcoxon(d).pvalue)
    naive = comparisons.corrected_t_test(d, 0.0)
    assert naive["p"] == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue)
    assert naive["p"] < result["p"]  # the correction widens the test for overlapping training sets


def test_corrected_t_test_degenerate_cases():
    zeros = comparisons.corrected_t_test([0.0, 0.0, 1e-15], 0.25)
    assert zeros["mean_diff"] == 0.0 and zeros["p"] == 1.0 and math.isnan(zeros["wilcoxon_p"])
    assert "Wilcoxon test needs at least 2" in zeros["note"]
    one = comparisons.corrected_t_test([0.1], 0.25)
    assert one["mean_diff"] == pytest.approx(0.1) and math.isnan(one["ci95_low"]) and math.isnan(one["p"])
    assert "one unit" in one["note"]
    none = comparisons.corrected_t_test([], 0.25)
    assert none["n_units"] == 0 and math.isnan(none["mean_diff"])


def test_pairs_only_on_shared_folds_and_seeds(tmp_path):
    paths = [
        write_run(tmp_path, "af", "none", 0, 0, {"auc": 0.5}),
        write_run(tmp_path, "af", "none", 1, 0, {"auc": 0.6}),
        write_run(tmp_path, "af_pdp", "manual", 1, 0, {"auc": 0.7}),
        write_run(tmp_path, "af_pdp", "manual", 2, 0, {"auc": 0.9}),
    ]
    row = comparisons.significance(runs_table.collect_runs(paths), {"af_pdp": "af"}, metrics=["auc"]).iloc[0]
    assert row["n_units"] == 1 and row["mean_diff"] == pytest.approx(0.1)


def test_baseline_without_runs_is_reported(tmp_path):
    runs = runs_table.collect_runs([write_run(tmp_path, "af_pdp", "manual", 0, 0, {"auc": 0.7})])
    row = comparisons.significance(runs, {"af_pdp": "af"}, metrics=["auc"]).iloc[0]
    assert row["n_units"] == 0 and "baseline 'af' has no runs" in row["note"]


def test_label_source_comparison(tmp_path):
    paths = []
    for fold, (manual, detected, shuffled) in enumerate([(0.9, 0.8, 0.7), (0.85, 0.8, 0.82), (0.7, 0.75, 0.7)]):
        paths.append(write_run(tmp_path, "tl_fbv", "manual", fold, 0, {"auc": manual}))
        paths.append(write_run(tmp_path, "tl_fbv", "detected", fold, 0, {"auc": detected}))
        paths.append(write_run(tmp_path, "tl_fbv", "shuffled", fold, 0, {"auc": shuffled}))
    paths.append(write_run(tmp_path, "tl_pdm", "manual", 0, 0, {"auc": 0.8}))  # no other source
    table = comparisons.label_source_comparison(runs_table.collect_runs(paths), metrics=["auc"])
    assert list(table["method"]) == ["tl_fbv"] * 3
    assert list(zip(table["labels"], table["baseline_labels"])) == [
        ("manual", "detected"),
        ("manual", "shuffled"),
        ("detected", "shuffled"),
    ]
    row = table.iloc[0]
    assert row["mean_diff"] == pytest.approx(np.mean([0.1, 0.05, -0.05]))
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon([0.1, 0.05, -0.05]).pvalue)


def test_the_across_person_control_is_compared_with_every_other_source(tmp_path):
    paths = []
    for fold, across in enumerate([0.6, 0.7, 0.65]):
        paths.append(write_run(tmp_path, "tl_ce", "manual", fold, 0, {"auc": 0.8}))
        paths.append(write_run(tmp_path, "tl_ce", "shuffled", fold, 0, {"auc": 0.75}))
        paths.append(write_run(tmp_path, "tl_ce", "shuffled_across", fold, 0, {"auc": across}))
    table = comparisons.label_source_comparison(runs_table.collect_runs(paths), metrics=["auc"])
    assert list(zip(table["labels"], table["baseline_labels"])) == [
        ("manual", "shuffled"),
        ("manual", "shuffled_across"),
        ("shuffled", "shuffled_across"),
    ]
    assert table.iloc[2]["mean_diff"] == pytest.approx(0.75 - np.mean([0.6, 0.7, 0.65]))


def test_default_paired_metrics_are_the_headline_ones(study):
    runs = runs_table.collect_runs(study)
    table = comparisons.significance(runs, {"tl_fbv": "tl"})
    assert set(table["metric"]) == {"auc", "eer"}


def holm_by_definition(p_values):
    """Holm's step-down adjustment written out: the i-th smallest p times (m - i), never below an earlier one."""
    finite = sorted((p, i) for i, p in enumerate(p_values) if np.isfinite(p))
    m, adjusted, running = len(finite), [math.nan] * len(p_values), 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def test_holm_adjustment_matches_its_definition():
    assert comparisons.holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.3, size=rng.integers(1, 12))
        p[rng.uniform(size=p.size) < 0.2] = math.nan
        np.testing.assert_allclose(comparisons.holm_adjust(p), holm_by_definition(list(p)), equal_nan=True)
    assert comparisons.holm_adjust([]).size == 0


def test_significance_adjusts_p_values_within_each_metric(study):
    runs = runs_table.collect_runs(study)
    tests = comparisons.significance(runs, {"tl_fbv": "tl"}, metrics=["auc", "eer"])
    for _, group in tests.groupby("metric"):
        np.testing.assert_allclose(group["p_holm"], comparisons.holm_adjust(group["p"]), equal_nan=True)
        finite = group["p"].notna()
        assert (group.loc[finite, "p_holm"] >= group.loc[finite, "p"]).all()


def test_seeds_are_averaged_within_a_fold_before_testing(tmp_path):
    """Three seeds of one fold are one unit: the test sees 4 fold means, not 12 runs."""
    paths = []
    rng = np.random.default_rng(1)
    for repeat in range(2):
        for fold in range(2):
            for seed in range(3):
                base = 0.7 + 0.05 * fold + float(rng.normal(0, 0.01))
                paths.append(write_run(tmp_path, "tl", "none", fold, seed, {"auc": base}, repeat=repeat))
                paths.append(write_run(tmp_path, "tl_pdp", "manual", fold, seed, {"auc": base + 0.01}, repeat=repeat))
    runs = runs_table.collect_runs(paths)
    row = comparisons.significance(runs, {"tl_pdp": "tl"}, metrics=["auc"]).iloc[0]
    assert row["n_units"] == 4 and row["mean_diff"] == pytest.approx(0.01)
    units = runs_table.fold_units(runs_table.ok_runs(runs, "tl", "none"), ["auc"])
    assert len(units) == 4 and (units["n_seeds"] == 3).all()


def simulated_fold_differences(rng, *, studies, repeats, folds=5, people=60, effect=0.0):
    """Fold-unit differences (method - baseline) of ``studies`` simulated studies, one per row, as repeated
    cross-validation makes them: each study draws ``people`` from a population in which the method's benefit
    has mean ``effect``; a unit's difference is the mean benefit of its test people, plus how its training
    people shift what is learnt, plus run noise (seeds averaged). Repeats reshuffle the same people into new
    folds, so units share test people across repeats and training people within and across repeats.

    The spreads put the correlation between units near n_test / n (0.2 with 5 folds), the correlation the
    corrected test assumes."""
    benefit = rng.normal(effect, 0.05, (studies, people))
    training_shift = rng.normal(0.0, 0.05, (studies, people))
    differences = np.empty((studies, repeats * folds))
    for repeat in range(repeats):
        fold_of = rng.permuted(np.broadcast_to(np.arange(people) % folds, (studies, people)), axis=1)
        for fold in range(folds):
            test = fold_of == fold
            learnt = (training_shift * ~test).sum(axis=1) / (~test).sum(axis=1)
            noise = rng.normal(0, 0.01, studies) + rng.normal(0, 0.01, (studies, 3)).mean(axis=1)
            differences[:, repeat * folds + fold] = (benefit * test).sum(axis=1) / test.sum(axis=1) + learnt + noise
    return differences


STUDIES = 4000
# three Monte-Carlo standard errors above alpha = 0.05 (deterministic: the generator is seeded)
ALPHA_TOLERANCE = 0.05 + 3 * math.sqrt(0.05 * 0.95 / STUDIES)


@pytest.mark.parametrize("repeats", [1, 2, 3])
def test_corrected_test_keeps_its_type_one_error_where_the_naive_test_does_not(repeats):
    rng = np.random.default_rng(repeats)
    share = 1 / 4  # 5 folds
    null = simulated_fold_differences(rng, studies=STUDIES, repeats=repeats)
    corrected = np.mean(comparisons.corrected_t_p(null, share) < 0.05)
    naive = np.mean(stats.ttest_1samp(null, 0.0, axis=1).pvalue < 0.05)
    assert corrected <= ALPHA_TOLERANCE
    assert naive > ALPHA_TOLERANCE  # the paired t-test that ignores the overlap rejects too often
    # the library's own test of one study equals the vectorised one, and the naive one is test_share 0
    assert comparisons.corrected_t_test(null[0], share)["p"] == pytest.approx(comparisons.corrected_t_p(null[0], share))
    assert comparisons.corrected_t_p(null[:50], 0.0) == pytest.approx(stats.ttest_1samp(null[:50], 0.0, axis=1).pvalue)
    # a test that never rejects would pass the first check: a real gain is found
    gain = simulated_fold_differences(rng, studies=500, repeats=repeats, effect=0.05)
    assert np.mean(comparisons.corrected_t_p(gain, share) < 0.05) > 0.5


def test_corrected_t_p_degenerate_rows():
    p = comparisons.corrected_t_p(np.array([[0.0, 0.0, 0.0], [0.1, 0.1, 0.1], [0.1, -0.1, 0.0]]), 0.25)
    assert p[0] == 1.0 and p[1] == pytest.approx(0.0, abs=1e-12) and p[2] == pytest.approx(1.0)
    with pytest.raises(runs_table.SummaryInputError, match="at least two fold units"):
        comparisons.corrected_t_p(np.array([[0.1]]), 0.25)


def detectable_by_search(sd, n_units, test_share, alpha, power=0.8):
    """The smallest true difference the two-sided corrected t-test at ``alpha`` finds with ``power``, by
    bisection on the noncentral t's power written out from scipy.stats.nct."""
    df, scale = n_units - 1, sd * math.sqrt(1 / n_units + test_share)
    critical = stats.t.ppf(1 - alpha / 2, df)

    def reached(difference):  # both tails; scipy's cdf far in the left tail is NaN where it is ~0
        shift = difference / scale
        return stats.nct.sf(critical, df, shift) + np.nan_to_num(stats.nct.cdf(-critical, df, shift))

    low, high = 0.0, 1.0
    while reached(high) < power:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (low, middle) if reached(middle) >= power else (middle, high)
    return (low + high) / 2


def holm_family_runs(tmp_path, n=5):
    """tl_pdp and tl_fbv (manual, detected) differ from tl by noisy amounts; af_pdm (both sources) gives af's
    figure in every unit: 4 comparisons in the Holm family, 2 identical ones outside it."""
    rng = np.random.default_rng(3)
    paths = []
    for fold in range(n):
        base, arc = float(rng.uniform(0.6, 0.8)), float(rng.uniform(0.6, 0.8))
        paths.append(write_run(tmp_path, "tl", "none", fold, 0, {"auc": base}))
        paths.append(write_run(tmp_path, "af", "none", fold, 0, {"auc": arc}))
        for labels in ("manual", "detected"):
            for method, shift in (("tl_pdp", 0.02), ("tl_fbv", -0.01)):
                value = base + shift + float(rng.normal(0, 0.02))
                paths.append(write_run(tmp_path, method, labels, fold, 0, {"auc": value}))
            paths.append(write_run(tmp_path, "af_pdm", labels, fold, 0, {"auc": arc}))
    return runs_table.collect_runs(paths)


def test_the_holm_family_leaves_out_comparisons_identical_in_every_unit(tmp_path):
    runs = holm_family_runs(tmp_path)
    table = comparisons.significance(runs, {"tl_pdp": "tl", "tl_fbv": "tl", "af_pdm": "af"}, ["auc"], 0.25)
    identical = table["method"] == "af_pdm"
    members = table[~identical]
    assert len(members) == 4 and (members["holm_family"] == 4).all()
    np.testing.assert_allclose(members["p_holm"], holm_by_definition(list(members["p"])))
    # counted in, the two p = 1 would have raised the others: a family of 6 adjusts more
    counted_in = np.asarray(holm_by_definition(list(table["p"])))[: len(members)]
    assert (counted_in >= members["p_holm"].to_numpy()).all() and (counted_in > members["p_holm"].to_numpy()).any()
    outside = table[identical]
    assert (outside["p"] == 1.0).all() and (outside["p_holm"] == 1.0).all()
    assert outside["holm_family"].isna().all() and outside["detectable_diff_holm"].isna().all()
    assert all(comparisons.OUTSIDE_FAMILY in note for note in outside["note"])


def test_the_holm_level_detectable_difference_matches_the_noncentral_t_at_alpha_over_m(tmp_path):
    runs = holm_family_runs(tmp_path)
    table = comparisons.significance(runs, {"tl_pdp": "tl", "tl_fbv": "tl", "af_pdm": "af"}, ["auc"], 0.25)
    for _, row in table[table["method"] != "af_pdm"].iterrows():
        expected = detectable_by_search(row["sd_diff"], row["n_units"], 0.25, 0.05 / 4)
        assert row["detectable_diff_holm"] == pytest.approx(expected, rel=1e-6)
        assert row["detectable_diff"] == pytest.approx(detectable_by_search(row["sd_diff"], 5, 0.25, 0.05), rel=1e-6)
        assert row["detectable_diff_holm"] > row["detectable_diff"]  # a stricter level needs a larger gain
