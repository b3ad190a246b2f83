"""Summaries over fold units recomputed independently from hand-made metrics.json files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from report_runs import FBV_AUC, TL_AUC, write_run, write_study
from scipy import stats

from emoverify.report import comparisons, runs_table, statistics
from emoverify.report.runs_table import SummaryInputError


@pytest.fixture
def study(tmp_path):
    """tl (no labels) and tl_fbv (manual) on 4 folds, plus one missing and one broken run."""
    return write_study(tmp_path)


def test_summary_matches_an_independent_t_interval(study):
    table = statistics.summarize(runs_table.collect_runs(study)).set_index(["method", "labels"])
    for key, values in ((("tl", "none"), TL_AUC), (("tl_fbv", "manual"), FBV_AUC)):
        row = table.loc[key]
        mean, sd = np.mean(values), np.std(values, ddof=1)
        low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
        assert row["n_runs"] == 4 and row["n_missing"] == 0
        assert row["auc_mean"] == pytest.approx(mean)
        assert row["auc_sd"] == pytest.approx(sd)
        assert (row["auc_ci95_low"], row["auc_ci95_high"]) == pytest.approx((low, high))
        assert row["eer_mean"] == pytest.approx(1 - mean)
    failed = table.loc[("tl_fbv", "detected")]
    assert failed["n_runs"] == 0 and failed["n_missing"] == 2
    assert math.isnan(failed["auc_mean"])
    assert "unreadable" in failed["missing_reasons"]


def test_single_run_has_no_sd_or_interval(tmp_path):
    runs = runs_table.collect_runs([write_run(tmp_path, "af", "none", 0, 0, {"auc": 0.9})])
    row = statistics.summarize(runs).iloc[0]
    assert row["auc_mean"] == 0.9 and row["auc_n"] == 1
    assert math.isnan(row["auc_sd"]) and math.isnan(row["auc_ci95_low"])


def test_intervals_of_rates_stay_in_the_unit_interval_and_others_are_not_clipped(tmp_path):
    values = [0.99, 1.0, 0.95]
    paths = [
        write_run(tmp_path, "tl", "none", fold, 0, {"rank1": v, "eer": 1 - v, "margin": v})
        for fold, v in enumerate(values)
    ]
    row = statistics.summarize(runs_table.collect_runs(paths)).iloc[0]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert high > 1 and low > 0  # the unclipped interval passes 1
    assert (row["rank1_ci95_low"], row["rank1_ci95_high"]) == pytest.approx((low, 1.0))
    assert (row["eer_ci95_low"], row["eer_ci95_high"]) == pytest.approx((0.0, 1 - low))
    assert (row["margin_ci95_low"], row["margin_ci95_high"]) == pytest.approx((low, high))
    # the Markdown table says where an interval was clipped, and only there
    markdown = statistics.to_markdown(
        statistics.summarize(runs_table.collect_runs(paths)), metrics=["rank1", "eer", "margin"]
    )
    cells = markdown.splitlines()[2].split(" | ")[3:]
    assert cells[0].endswith(f"[{low:.3f}, 1.000] (clipped to [0, 1])")
    assert cells[1].endswith(f"[0.000, {1 - low:.3f}] (clipped to [0, 1])")
    assert cells[2].rstrip(" |").endswith(f"[{low:.3f}, {high:.3f}]")


def test_an_interval_within_the_range_or_without_spread_is_not_flagged():
    row = pd.Series({"auc_mean": 0.5, "auc_n": 3, "auc_sd": 0.1, "auc_ci95_low": 0.2, "auc_ci95_high": 0.8})
    assert statistics._format_cell(row, "auc", 3) == "0.500 ± 0.100 [0.200, 0.800]"
    perfect = pd.Series({"auc_mean": 1.0, "auc_n": 3, "auc_sd": 0.0, "auc_ci95_low": 1.0, "auc_ci95_high": 1.0})
    assert statistics._format_cell(perfect, "auc", 3) == "1.000 ± 0.000 [1.000, 1.000]"


def test_intervals_are_corrected_for_overlapping_training_sets(study):
    """With n_test / n_train = 1/4 (5 folds) the half-width is t * sd * sqrt(1/J + 1/4)."""
    table = statistics.summarize(runs_table.collect_runs(study), test_share=0.25).set_index(["method", "labels"])
    row = table.loc[("tl", "none")]
    half = stats.t.ppf(0.975, 3) * np.std(TL_AUC, ddof=1) * math.sqrt(1 / 4 + 1 / 4)
    assert (row["auc_ci95_low"], row["auc_ci95_high"]) == pytest.approx(
        (np.mean(TL_AUC) - half, np.mean(TL_AUC) + half)
    )


def test_seeds_of_a_fold_are_one_unit_and_a_metric_no_run_has_is_absent(tmp_path):
    paths = [
        write_run(
            tmp_path, "tl", "none", fold, seed, {"auc": 0.7 + 0.1 * fold + 0.01 * seed, "auc_same_expression": None}
        )
        for fold in range(2)
        for seed in range(3)
    ]
    row = statistics.summarize(runs_table.collect_runs(paths)).iloc[0]
    assert row["n_runs"] == 6 and row["n_units"] == 2 and row["auc_n"] == 2
    assert row["auc_sd"] == pytest.approx(np.std([0.71, 0.81], ddof=1))
    assert "auc_same_expression_mean" not in row.index


def test_method_not_run_is_absent(study):
    runs = runs_table.collect_runs(study)
    table = statistics.summarize(runs)
    assert set(zip(table["method"], table["labels"])) == {("tl", "none"), ("tl_fbv", "manual"), ("tl_fbv", "detected")}
    tests = comparisons.significance(runs, {"tl_fbv": "tl", "af_pdp": "af"}, metrics=["auc"])
    assert "af_pdp" not in set(tests["method"])


def test_summary_rejects_unknown_metrics(study):
    runs = runs_table.collect_runs(study)
    with pytest.raises(SummaryInputError, match="not in the runs table"):
        statistics.summarize(runs, metrics=["auc", "rank_one"])
    with pytest.raises(SummaryInputError, match="lacks columns"):
        statistics.summarize(pd.DataFrame({"auc": [0.5]}))


def test_markdown_cells(study):
    table = statistics.summarize(runs_table.collect_runs(study))
    text = statistics.to_markdown(table, metrics=["auc"])
    lines = text.splitlines()
    assert lines[0] == "| method | labels | runs (units) | auc |"
    row = table.set_index("method").loc["tl"]
    expected = f"{row['auc_mean']:.3f} ± {row['auc_sd']:.3f} [{row['auc_ci95_low']:.3f}, {row['auc_ci95_high']:.3f}]"
    assert f"| tl | none | 4 (4) | {expected} |" in lines
    assert "| tl_fbv | detected | 0 (0), 2 missing | n/a |" in lines
    with pytest.raises(SummaryInputError, match="not in the summary"):
        statistics.to_markdown(table, metrics=["rank1"])


def test_a_single_session_flag_marks_its_summary_row_and_is_absent_otherwise(study):
    runs = runs_table.collect_runs(study)
    assert "single_session_losses" not in statistics.summarize(runs)  # no run flagged: the table as before
    flagged = runs.assign(single_session_losses=["pdm" if m == "tl_fbv" else "" for m in runs["method"]])
    table = statistics.summarize(flagged).set_index(["method", "labels"])
    assert table.loc[("tl_fbv", "manual"), "single_session_losses"] == "pdm"
    assert table.loc[("tl", "none"), "single_session_losses"] == ""


def nct_power(effect, sd, n, test_share, alpha=0.05):
    """Two-sided ``alpha`` power of the corrected resampled t-test, straight from scipy's noncentral t (the
    lower tail P(T < -c | shift) written as P(T > c | -shift): scipy's cdf returns NaN far in the left tail)."""
    critical = stats.t.ppf(1 - alpha / 2, n - 1)
    shift = effect / (sd * math.sqrt(1 / n + test_share))
    return stats.nct.sf(critical, n - 1, shift) + stats.nct.sf(critical, n - 1, -shift)


@pytest.mark.parametrize("n_units", [2, 3, 5, 10, 15, 40])
@pytest.mark.parametrize("test_share", [0.0, 0.25, 1.0])
def test_detectable_difference_has_80_percent_power_under_the_noncentral_t(n_units, test_share):
    delta = statistics.detectable_difference(0.07, n_units, test_share)
    assert nct_power(delta, 0.07, n_units, test_share) == pytest.approx(0.8, abs=1e-6)
    assert statistics.corrected_power(delta, 0.07, n_units, test_share) == pytest.approx(0.8, abs=1e-6)
    # the central-t shortcut (t_0.975 + t_0.8) * scale is short of 80 % power for few units
    central = (
        (stats.t.ppf(0.975, n_units - 1) + stats.t.ppf(0.8, n_units - 1)) * 0.07 * math.sqrt(1 / n_units + test_share)
    )
    if n_units <= 3:
        assert delta > central and nct_power(central, 0.07, n_units, test_share) < 0.79


def test_detectable_difference_falls_with_units_and_scales_with_the_spread():
    by_units = [statistics.detectable_difference(0.05, n, 0.25) for n in range(2, 60)]
    assert all(later < earlier for earlier, later in zip(by_units, by_units[1:]))
    # the correction's floor: with many units the difference tends to (z_0.975 + z_0.8) * sd * sqrt(share)
    floor = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * 0.05 * 0.5
    assert by_units[-1] > floor and statistics.detectable_difference(0.05, 100_000, 0.25) == pytest.approx(
        floor, rel=1e-3
    )
    doubled = statistics.detectable_difference(0.1, 7, 0.25)
    assert doubled == pytest.approx(2 * statistics.detectable_difference(0.05, 7, 0.25))
    assert statistics.detectable_difference(0.0, 7, 0.25) == 0.0
    assert math.isnan(statistics.detectable_difference(0.05, 1, 0.25))
    assert math.isnan(statistics.detectable_difference(math.nan, 7, 0.25))
    with pytest.raises(ValueError, match="power and alpha"):
        statistics.detectable_difference(0.05, 7, 0.25, power=1.0)


def test_power_curves_follow_the_design_from_the_observed_spread():
    comparisons = pd.DataFrame(
        [
            {"method": "tl_pdp", "labels": "manual", "baseline": "tl", "n_units": 10, "sd_diff": 0.04},
            {"method": "tl_fbv", "labels": "manual", "baseline": "tl", "n_units": 10, "sd_diff": 0.08},
            {"method": "af_pdp", "labels": "manual", "baseline": "af", "n_units": 1, "sd_diff": math.nan},
        ]
    )
    curves = statistics.power_curves(comparisons, test_share=0.25, test_people=12, units=[5, 15, 50], people=[6, 48])
    assert set(curves["comparison"]) == {"tl_pdp (manual) - tl", "tl_fbv (manual) - tl"}  # af_pdp: no spread
    pdp = curves[curves["comparison"] == "tl_pdp (manual) - tl"].set_index(["axis", "x"])["detectable_diff"]
    # fold units: the study's own 10 units join the grid, each point the noncentral-t answer at that J
    units = pdp.loc[statistics.FOLD_UNITS_AXIS]
    assert list(units.index) == [5, 10, 15, 50]
    for n, value in units.items():
        assert nct_power(value, 0.04, n, 0.25) == pytest.approx(0.8, abs=1e-6)
    assert units.is_monotonic_decreasing
    # test people: the spread scaled by sqrt(12 / people) at the study's 10 units; the study's 12 is a point
    people = pdp.loc[statistics.TEST_PEOPLE_AXIS]
    assert list(people.index) == [6, 12, 48]
    assert people[12] == pytest.approx(units[10])
    assert people[48] == pytest.approx(units[10] / 2) and people[6] == pytest.approx(units[10] * math.sqrt(2))
    observed = curves[curves["observed"]]
    assert sorted(zip(observed["comparison"], observed["axis"], observed["x"])) == sorted(
        (name, axis, x)
        for name in ("tl_pdp (manual) - tl", "tl_fbv (manual) - tl")
        for axis, x in ((statistics.FOLD_UNITS_AXIS, 10), (statistics.TEST_PEOPLE_AXIS, 12))
    )
    fbv = curves[curves["comparison"] == "tl_fbv (manual) - tl"]["detectable_diff"].to_numpy()
    assert fbv == pytest.approx(2 * pdp.to_numpy())  # twice the spread, twice the difference everywhere
    assert (curves["holm_family"] == 1).all() and (curves["alpha"] == 0.05).all()
    # at Holm's level for one true gain among 6 comparisons: 80 % power at two-sided 5 % / 6, larger everywhere
    holm = statistics.power_curves(
        comparisons, test_share=0.25, test_people=12, units=[5, 15, 50], people=[6, 48], holm_family=6
    )
    assert (holm["holm_family"] == 6).all() and holm["alpha"].to_numpy() == pytest.approx(0.05 / 6)
    strict = holm[holm["comparison"] == "tl_pdp (manual) - tl"].set_index(["axis", "x"])["detectable_diff"]
    for n, value in strict.loc[statistics.FOLD_UNITS_AXIS].items():
        assert nct_power(value, 0.04, n, 0.25, alpha=0.05 / 6) == pytest.approx(0.8, abs=1e-6)
    assert (strict.to_numpy() > pdp.to_numpy()).all()
    # without test people (no embeddings) only the fold-unit axis is drawn
    alone = statistics.power_curves(comparisons, test_share=0.25, test_people=math.nan, units=[5], people=[6])
    assert set(alone["axis"]) == {statistics.FOLD_UNITS_AXIS}


def test_design_grid_spans_repeats_and_people_around_the_study():
    units, people = statistics.design_grid(folds=5, repeats=3, test_people=24)
    assert units == [5 * r for r in range(1, 11)]
    assert people[0] == 6 and people[-1] == 96 and 24 in people
    assert statistics.design_grid(folds=3, repeats=8, test_people=math.nan) == ([3 * r for r in range(1, 17)], [])
