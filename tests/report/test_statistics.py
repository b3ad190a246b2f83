"""Results tables recomputed independently from hand-made metrics.json files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emoverify.report import statistics as summary
from emoverify.report.statistics import SummaryInputError


def write_run(root, method, labels, fold, seed, metrics, **extra):
    folder = root / "runs" / method / labels / f"fold{fold}" / f"seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "metrics.json"
    record = {
        "method": method,
        "labels": labels,
        "fold": fold,
        "seed": seed,
        "status": "ok",
        "metrics": metrics,
        **extra,
    }
    path.write_text(json.dumps(record))
    return path


TL_AUC = [0.80, 0.70, 0.75, 0.90]
FBV_AUC = [0.85, 0.78, 0.79, 0.93]


@pytest.fixture
def study(tmp_path):
    """tl (no labels) and tl_fbv (manual) on 4 folds, plus one missing and one broken run."""
    paths = []
    for fold, (tl, fbv) in enumerate(zip(TL_AUC, FBV_AUC)):
        paths.append(write_run(tmp_path, "tl", "none", fold, 0, {"auc": tl, "eer": 1 - tl, "notes": []}))
        paths.append(
            write_run(tmp_path, "tl_fbv", "manual", fold, 0, {"auc": fbv, "eer": 1 - fbv, "notes": ["a note"]})
        )
    paths.append(tmp_path / "runs" / "tl_fbv" / "detected" / "fold0" / "seed0" / "metrics.json")
    broken = tmp_path / "runs" / "tl_fbv" / "detected" / "fold1" / "seed0" / "metrics.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    paths.append(broken)
    return paths


def test_collect_runs_reports_missing_and_unreadable_files(study):
    runs = summary.collect_runs(study)
    assert len(runs) == 10
    ok = runs[runs["status"] == "ok"]
    assert len(ok) == 8
    missing = runs[runs["status"] != "ok"].set_index("fold")
    assert missing.loc[0, "status"].startswith("missing: no metrics.json")
    assert missing.loc[1, "status"].startswith("missing: unreadable metrics.json")
    # identity of an unreadable run comes from its path
    assert set(missing["method"]) == {"tl_fbv"} and set(missing["labels"]) == {"detected"}
    assert missing["auc"].isna().all()
    assert ok.loc[ok["method"] == "tl_fbv", "notes"].eq("a note").all()


def test_collect_runs_reads_null_as_nan_and_failed_status_as_missing(tmp_path):
    nulls = write_run(tmp_path, "af", "none", 0, 0, {"auc": None, "rank1": 0.5})
    failed = write_run(tmp_path, "af", "none", 1, 0, {}, status="failed: CUDA out of memory")
    runs = summary.collect_runs([nulls, failed]).set_index("fold")
    assert math.isnan(runs.loc[0, "auc"]) and runs.loc[0, "rank1"] == 0.5
    assert runs.loc[1, "status"] == "missing: failed: CUDA out of memory"


def test_collect_runs_reads_reference_paths(tmp_path):
    path = tmp_path / "references" / "pixels" / "fold2" / "seed1" / "metrics.json"
    runs = summary.collect_runs([path])
    row = runs.iloc[0]
    assert (row["method"], row["labels"], row["fold"], row["seed"]) == ("pixels", "none", 2, 1)
    assert bool(row["reference"]) and row["status"].startswith("missing")


def test_summary_matches_an_independent_t_interval(study):
    table = summary.summarize(summary.collect_runs(study)).set_index(["method", "labels"])
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
    runs = summary.collect_runs([write_run(tmp_path, "af", "none", 0, 0, {"auc": 0.9})])
    row = summary.summarize(runs).iloc[0]
    assert row["auc_mean"] == 0.9 and row["auc_n"] == 1
    assert math.isnan(row["auc_sd"]) and math.isnan(row["auc_ci95_low"])


def test_intervals_of_rates_stay_in_the_unit_interval_and_others_are_not_clipped(tmp_path):
    values = [0.99, 1.0, 0.95]
    paths = [
        write_run(tmp_path, "tl", "none", fold, 0, {"rank1": v, "eer": 1 - v, "threshold": v})
        for fold, v in enumerate(values)
    ]
    row = summary.summarize(summary.collect_runs(paths)).iloc[0]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert high > 1 and low > 0  # the unclipped interval passes 1
    assert (row["rank1_ci95_low"], row["rank1_ci95_high"]) == pytest.approx((low, 1.0))
    assert (row["eer_ci95_low"], row["eer_ci95_high"]) == pytest.approx((0.0, 1 - low))
    assert (row["threshold_ci95_low"], row["threshold_ci95_high"]) == pytest.approx((low, high))


def test_method_not_run_is_absent(study):
    runs = summary.collect_runs(study)
    table = summary.summarize(runs)
    assert set(zip(table["method"], table["labels"])) == {("tl", "none"), ("tl_fbv", "manual"), ("tl_fbv", "detected")}
    tests = summary.significance(runs, {"tl_fbv": "tl", "af_pdp": "af"}, metrics=["auc"])
    assert "af_pdp" not in set(tests["method"])


def test_summary_rejects_unknown_metrics(study):
    runs = summary.collect_runs(study)
    with pytest.raises(SummaryInputError, match="not in the runs table"):
        summary.summarize(runs, metrics=["auc", "rank_one"])
    with pytest.raises(SummaryInputError, match="lacks columns"):
        summary.summarize(pd.DataFrame({"auc": [0.5]}))


def test_markdown_cells(study):
    table = summary.summarize(summary.collect_runs(study))
    text = summary.to_markdown(table, metrics=["auc"])
    lines = text.splitlines()
    assert lines[0] == "| method | labels | runs | auc |"
    row = table.set_index("method").loc["tl"]
    expected = f"{row['auc_mean']:.3f} ± {row['auc_sd']:.3f} [{row['auc_ci95_low']:.3f}, {row['auc_ci95_high']:.3f}]"
    assert f"| tl | none | 4 | {expected} |" in lines
    assert "| tl_fbv | detected | 0 (2 missing) | n/a |" in lines
    with pytest.raises(SummaryInputError, match="not in the summary"):
        summary.to_markdown(table, metrics=["rank1"])


def constant_difference_runs(tmp_path, n=6, delta=0.05):
    rng = np.random.default_rng(0)
    paths = []
    for fold in range(n):
        base = float(rng.uniform(0.6, 0.9))
        paths.append(write_run(tmp_path, "tl", "none", fold, 0, {"auc": base}))
        for labels in ("manual", "detected"):
            paths.append(write_run(tmp_path, "tl_pdp", labels, fold, 0, {"auc": base + delta}))
    return summary.collect_runs(paths)


def test_constant_difference_has_known_answer(tmp_path):
    runs = constant_difference_runs(tmp_path, n=6)
    table = summary.significance(runs, {"tl_pdp": "tl"}, metrics=["auc"], n_boot=2000)
    assert list(table["labels"]) == ["manual", "detected"]
    for _, row in table.iterrows():
        assert row["baseline_labels"] == "none" and row["n_pairs"] == 6
        assert row["mean_diff"] == pytest.approx(0.05)
        assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((0.05, 0.05))
        # all 6 differences positive: exact two-sided p = 2 / 2**6
        assert row["wilcoxon_p"] == pytest.approx(2 / 2**6)
        assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(np.full(6, 0.05)).pvalue)


def test_paired_difference_against_scipy_and_a_plain_bootstrap():
    d = np.array([0.02, -0.01, 0.04, 0.03, 0.00, 0.05, -0.02])
    result = summary.paired_difference(d, n_boot=5000, seed=3)
    assert result["n_pairs"] == 7 and result["mean_diff"] == pytest.approx(d.mean())
    assert result["wilcoxon_p"] == pytest.approx(stats.wilcoxon(d).pvalue)
    rng = np.random.default_rng(3)
    means = [d[rng.integers(0, 7, 7)].mean() for _ in range(5000)]
    assert (result["ci95_low"], result["ci95_high"]) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert result["ci95_low"] < d.mean() < result["ci95_high"]


def test_paired_difference_degenerate_cases():
    zeros = summary.paired_difference([0.0, 0.0, 1e-15])
    assert zeros["mean_diff"] == 0.0 and math.isnan(zeros["wilcoxon_p"])
    assert "Wilcoxon test needs at least 2" in zeros["note"]
    one = summary.paired_difference([0.1])
    assert one["mean_diff"] == pytest.approx(0.1) and math.isnan(one["ci95_low"])
    assert "one pair" in one["note"]
    none = summary.paired_difference([])
    assert none["n_pairs"] == 0 and math.isnan(none["mean_diff"])


def test_pairs_only_on_shared_folds_and_seeds(tmp_path):
    paths = [
        write_run(tmp_path, "af", "none", 0, 0, {"auc": 0.5}),
        write_run(tmp_path, "af", "none", 1, 0, {"auc": 0.6}),
        write_run(tmp_path, "af_pdp", "manual", 1, 0, {"auc": 0.7}),
        write_run(tmp_path, "af_pdp", "manual", 2, 0, {"auc": 0.9}),
    ]
    row = summary.significance(summary.collect_runs(paths), {"af_pdp": "af"}, metrics=["auc"]).iloc[0]
    assert row["n_pairs"] == 1 and row["mean_diff"] == pytest.approx(0.1)


def test_baseline_without_runs_is_reported(tmp_path):
    runs = summary.collect_runs([write_run(tmp_path, "af_pdp", "manual", 0, 0, {"auc": 0.7})])
    row = summary.significance(runs, {"af_pdp": "af"}, metrics=["auc"]).iloc[0]
    assert row["n_pairs"] == 0 and "baseline 'af' has no runs" in row["note"]


def test_label_source_comparison(tmp_path):
    paths = []
    for fold, (manual, detected) in enumerate([(0.9, 0.8), (0.85, 0.8), (0.7, 0.75)]):
        paths.append(write_run(tmp_path, "tl_fbv", "manual", fold, 0, {"auc": manual}))
        paths.append(write_run(tmp_path, "tl_fbv", "detected", fold, 0, {"auc": detected}))
    paths.append(write_run(tmp_path, "tl_pdm", "manual", 0, 0, {"auc": 0.8}))  # no detected run
    table = summary.label_source_comparison(summary.collect_runs(paths), metrics=["auc"])
    assert list(table["method"]) == ["tl_fbv"]
    row = table.iloc[0]
    assert (row["labels"], row["baseline_labels"]) == ("manual", "detected")
    assert row["mean_diff"] == pytest.approx(np.mean([0.1, 0.05, -0.05]))
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon([0.1, 0.05, -0.05]).pvalue)


def test_default_paired_metrics_are_the_headline_ones(study):
    runs = summary.collect_runs(study)
    table = summary.significance(runs, {"tl_fbv": "tl"}, n_boot=100)
    assert set(table["metric"]) == {"auc", "eer"}


def test_duplicate_runs_are_rejected(tmp_path):
    path = write_run(tmp_path, "tl", "none", 0, 0, {"auc": 0.5})
    runs = summary.collect_runs([path, path, write_run(tmp_path, "tl_pdm", "manual", 0, 0, {"auc": 0.6})])
    with pytest.raises(SummaryInputError, match="several ok runs"):
        summary.significance(runs, {"tl_pdm": "tl"}, metrics=["auc"])


def holm_by_definition(p_values):
    """Holm's step-down adjustment written out: the i-th smallest p times (m - i), never below an earlier one."""
    finite = sorted((p, i) for i, p in enumerate(p_values) if np.isfinite(p))
    m, adjusted, running = len(finite), [math.nan] * len(p_values), 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def test_holm_adjustment_matches_its_definition():
    assert summary.holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.3, size=rng.integers(1, 12))
        p[rng.uniform(size=p.size) < 0.2] = math.nan
        np.testing.assert_allclose(summary.holm_adjust(p), holm_by_definition(list(p)), equal_nan=True)
    assert summary.holm_adjust([]).size == 0


def test_significance_adjusts_p_values_within_each_metric(study):
    runs = summary.collect_runs(study)
    tests = summary.significance(runs, {"tl_fbv": "tl"}, metrics=["auc", "eer"])
    for _, group in tests.groupby("metric"):
        np.testing.assert_allclose(group["wilcoxon_p_holm"], summary.holm_adjust(group["wilcoxon_p"]), equal_nan=True)
        finite = group["wilcoxon_p"].notna()
        assert (group.loc[finite, "wilcoxon_p_holm"] >= group.loc[finite, "wilcoxon_p"]).all()
