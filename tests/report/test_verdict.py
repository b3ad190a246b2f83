"""The report's first page: the verdict table and its one sentence, from hand-made significance and summary
tables whose answer is known."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
from docutils.core import publish_parts
from docutils.writers import get_writer_class

from emoverify.report import verdict
from emoverify.report.runs_table import SummaryInputError

METRIC = "tar_at_far_1e-2"


def test(method, labels, diff, low, high, p_holm, detectable, baseline="tl", metric=METRIC, n_units=5, family=4):
    """A significance row; ``detectable`` is the Holm-level detectable difference (the unadjusted one, at the
    wider 5 %, is smaller: two thirds of it here)."""
    return {
        "method": method,
        "labels": labels,
        "baseline": baseline,
        "baseline_labels": "none",
        "metric": metric,
        "n_units": n_units,
        "mean_diff": diff,
        "ci95_low": low,
        "ci95_high": high,
        "p_holm": p_holm,
        "sd_diff": 0.0 if low == high == diff else 0.05,  # equal figures in every unit: no spread
        "detectable_diff": detectable * 2 / 3,
        "holm_family": family if math.isfinite(p_holm) else math.nan,
        "detectable_diff_holm": detectable,
    }


test.__test__ = False  # a row builder, not a test

SUMMARY = pd.DataFrame(
    [
        {"method": "pixels", "labels": "none", f"{METRIC}_mean": 0.05},
        {"method": "dlib", "labels": "none", f"{METRIC}_mean": 0.91},
        {"method": "tl", "labels": "none", f"{METRIC}_mean": 0.40},
        {"method": "tl_pdp", "labels": "manual", f"{METRIC}_mean": 0.45},
        {"method": "tl_pdp", "labels": "shuffled", f"{METRIC}_mean": 0.41},
    ]
)


def answer(rows, references=("pixels", "untrained", "dlib")):
    columns = list(test("m", "manual", 0, 0, 0, 1, 0))
    table = verdict.verdict_table(pd.DataFrame(rows, columns=columns), SUMMARY, list(references))
    return table, verdict.verdict_sentence(table, "ckplus48")


def test_a_significant_gain_is_a_yes_with_its_size_interval_and_p():
    table, sentence = answer(
        [
            test("tl_pdp", "manual", 0.05, 0.012, 0.088, 0.0123, 0.04),
            test("tl_pdp", "shuffled", 0.01, -0.03, 0.05, 0.6, 0.06),
            test("tl_pdp", "manual", 0.02, -0.01, 0.05, 0.3, 0.03, metric="auc"),  # another metric: not read
        ]
    )
    assert sentence == (
        "ckplus48: yes: tl_pdp (manual labels) beats its baseline tl by 0.050 TAR at FAR 1e-2 "
        "(95 % interval 0.012 to 0.088, p after Holm 0.012)."
    )
    comparisons = table[table["row"] == "comparison"].set_index("labels")
    assert list(comparisons["finding"]) == ["gain", "no difference detected"]
    assert comparisons.loc["manual", "mean"] == 0.45 and comparisons.loc["manual", "baseline_mean"] == 0.40
    # references that ran sit beside, in the config's order; one that did not run (untrained) is absent
    references = table[table["row"] == "reference"]
    assert list(references["method"]) == ["pixels", "dlib"] and list(references["mean"]) == [0.05, 0.91]


def test_a_gain_its_shuffled_control_shares_is_flagged():
    _, sentence = answer(
        [
            test("tl_pdp", "manual", 0.05, 0.01, 0.09, 0.01, 0.04),
            test("tl_pdp", "shuffled", 0.06, 0.02, 0.1, 0.01, 0.04),
        ]
    )
    assert sentence.startswith("ckplus48: yes: tl_pdp (manual labels) beats")
    assert "With shuffled labels tl_pdp also beats its baseline" in sentence


def test_a_null_reads_no_gain_larger_than_the_largest_detectable_difference():
    _, sentence = answer(
        [
            test("tl_pdp", "manual", 0.01, -0.05, 0.07, 0.9, 0.081),
            test("tl_pdp", "detected", -0.02, -0.09, 0.05, 0.9, 0.123),
            test("tl_pdp", "shuffled", 0.02, -0.2, 0.24, 0.9, 0.3),  # the control's detectable difference is not X
            test("af_pdp", "manual", -0.06, -0.1, -0.02, 0.03, 0.05, baseline="af"),
        ]
    )
    assert sentence.startswith("ckplus48: no gain larger than 0.123 TAR at FAR 1e-2: no expression loss beats")
    assert "all 3 comparisons" in sentence and "Below their baselines: af_pdp (manual labels)." in sentence
    # X is at Holm's level for the metric's family (the controls are members), and the data's own bound beside it
    assert "at the level Holm's adjustment sets a single true gain among the 4 comparisons" in sentence
    assert "(two-sided 0.05 / 4)" in sentence
    assert "the largest upper end of their 95 % intervals is 0.070" in sentence  # the real-label rows only


def test_the_verdict_table_carries_the_holm_level_and_the_unadjusted_detectable_difference():
    table, _ = answer([test("tl_pdp", "manual", 0.01, -0.05, 0.07, 0.9, 0.081, family=7)])
    row = table.iloc[0]
    assert row["detectable_diff"] == 0.081 and row["detectable_diff_unadjusted"] == pytest.approx(0.054)
    assert row["holm_family"] == 7 and row["ci95_high"] == 0.07


def test_a_design_that_cannot_detect_a_difference_within_the_metric_s_range_says_so():
    """Three fold units: a detectable difference of 1.467 TAR is past any difference a rate can show (1)."""
    table, sentence = answer(
        [
            test("tl_pdp", "manual", 0.112, -1.005, 1.228, 1.0, 1.467, n_units=3),
            test("tl_pdm", "manual", 0.01, -0.2, 0.22, 1.0, 0.4, n_units=3),
            test("af_pdm", "manual", 0.0, 0.0, 0.0, 1.0, 0.0, baseline="af", n_units=3),  # zero spread: not power
        ]
    )
    assert sentence == (
        "ckplus48: cannot tell: no expression loss beats its matched baseline (p after Holm at least 0.05 in all 3 "
        "comparisons), but this design cannot detect any difference within the metric's range in 1 of 2 "
        "comparisons (detectable difference 1.47 > 1); the other one finds a gain of 0.400 with at least 80 % power "
        "at the level Holm's adjustment sets a single true gain among the 4 comparisons of TAR at FAR 1e-2 "
        "(two-sided 0.05 / 4). The other 1 give their baseline's TAR at FAR 1e-2 in every fold unit, so on it their "
        "expression terms tested nothing (and they are left out of its Holm family): af_pdm (manual labels)."
    )
    assert "1.467" not in sentence and "no gain larger than" not in sentence
    # the interval is shown as computed, and flagged; one within the range is not
    page = verdict.verdict_rst(table, sentence)
    assert "-1.005 to 1.228 (as computed; a difference lies within ±1)" in page
    assert "0.200 to 0.220\n" in page  # within the range: no flag
    _, every = answer([test("tl_pdp", "manual", 0.112, -1.005, 1.228, 1.0, 1.467, n_units=3)])
    assert every.endswith(
        "but this design cannot detect any difference within the metric's range (detectable difference 1.47 > 1) "
        "at the level Holm's adjustment sets a single true gain among the 4 comparisons of TAR at FAR 1e-2 "
        "(two-sided 0.05 / 4)."
    )


@pytest.mark.parametrize(
    "metric, detectable, expected",
    [
        (
            "auc",
            [0.5, 1.2],
            "in 1 of 2 comparisons (detectable difference 1.20 > 1); the other one finds a gain "
            "of 0.500 with at least 80 % power",
        ),
        ("auc", [1.5, 1.2], "within the metric's range (detectable difference 1.50 > 1)"),
        ("eer", [1.0, 0.3], ""),  # exactly the range: a gain of 1 can still be found
        ("auc", [math.nan, 0.3], ""),
        ("mean_loss", [5.0], ""),  # no bounds: no range to pass
    ],
)
def test_the_bound_is_worded_only_past_the_metric_s_range(metric, detectable, expected):
    worded = verdict.beyond_range(pd.Series(detectable), metric)
    assert worded.endswith(expected) if expected else worded == ""


def test_a_loss_that_equals_its_baseline_in_every_unit_is_named_not_counted_as_power():
    table, sentence = answer(
        [
            test("tl_pdp", "manual", 0.01, -0.05, 0.07, 0.9, 0.081),
            test("af_pdm", "manual", 0.0, 0.0, 0.0, 1.0, 0.0, baseline="af"),
            test("af_pdm", "detected", 0.0, 0.0, 0.0, 1.0, 0.0, baseline="af"),
            test("af_pdp", "manual", 0.0, 0.0, 0.0, 1.0, 0.0, baseline="af"),
        ]
    )
    findings = table.loc[table["row"] == "comparison", "finding"]
    assert list(findings) == ["no difference detected"] + ["same as baseline in every unit"] * 3
    assert sentence == (
        "ckplus48: no gain larger than 0.081 TAR at FAR 1e-2: no expression loss beats its matched baseline "
        "(p after Holm at least 0.05 in all 4 comparisons), and each of the 1 that differ from it finds a gain of "
        "0.081 with at least 80 % power at the level Holm's adjustment sets a single true gain among the 4 "
        "comparisons of TAR at FAR 1e-2 (two-sided 0.05 / 4). By the data themselves, the largest upper end of "
        "their 95 % intervals is 0.070. The other 3 give their baseline's TAR at FAR 1e-2 in every fold unit, "
        "so on it their expression terms tested nothing (and they are left out of its Holm family): af_pdm "
        "(manual, detected labels); af_pdp (manual labels)."
    )
    # a difference of zero over a spread is an ordinary null, not an identical run
    table, ordinary = answer([test("tl_pdp", "manual", 0.0, -0.02, 0.02, 1.0, 0.03)])
    assert table.iloc[0]["finding"] == "no difference detected" and "tested nothing" not in ordinary


def test_a_study_whose_losses_all_equal_their_baselines_cannot_tell():
    _, sentence = answer([test("af_pdm", "manual", 0.0, 0.0, 0.0, 1.0, 0.0, baseline="af")])
    assert sentence == (
        "ckplus48: cannot tell: every expression loss gave its matched baseline's TAR at FAR 1e-2 in every fold "
        "unit (1 comparison), so on it the expression terms tested nothing."
    )


def test_every_loss_below_its_baseline_is_a_no():
    table, sentence = answer(
        [
            test("tl_pdp", "manual", -0.06, -0.1, -0.02, 0.01, 0.05),
            test("tl_fbv", "manual", -0.04, -0.07, -0.01, 0.04, 0.05),
        ]
    )
    assert sentence.startswith("ckplus48: no: every expression loss is below its matched baseline")
    assert set(table.loc[table["row"] == "comparison", "finding"]) == {"below baseline"}


def test_untestable_studies_say_they_cannot_tell():
    one_unit = test("tl_pdp", "manual", 0.05, math.nan, math.nan, math.nan, math.nan, n_units=1)
    table, sentence = answer([one_unit])
    assert sentence == "ckplus48: cannot tell: no comparison has two fold units to test (TAR at FAR 1e-2)."
    assert table.iloc[0]["finding"] == "not tested"
    _, sentence = answer([])
    assert sentence == "ckplus48: cannot tell: no expression loss ran against a matched baseline."


def test_lead_metric_falls_back_to_the_first_one_present():
    assert verdict.lead_metric(pd.DataFrame([test("a", "manual", 0, 0, 0, 1, 0, metric="auc")])) == "auc"
    both = pd.DataFrame([test("a", "manual", 0, 0, 0, 1, 0, metric="auc"), test("a", "manual", 0, 0, 0, 1, 0)])
    assert verdict.lead_metric(both) == METRIC


def test_a_significance_table_without_its_columns_is_refused():
    with pytest.raises(SummaryInputError, match="lacks columns.*p_holm"):
        verdict.verdict_table(pd.DataFrame([{"method": "tl_pdp", "metric": METRIC}]), SUMMARY, [])


def test_the_page_renders_as_html_with_names_as_written():
    table, sentence = answer([test("tl_pdp", "manual", 0.05, 0.012, 0.088, 0.0004, 0.04)])
    html = publish_parts(
        verdict.verdict_rst(table, sentence), writer=get_writer_class("html")(), settings_overrides={"halt_level": 2}
    )["body"]
    assert "p after Holm &lt; 0.001" in html and "tl_pdp (manual labels) beats" in html
    rows = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", html, re.S)]
    header, body = rows[0], rows[1:]  # the table itself: one row per comparison, then the references
    assert [row[header.index("method")] for row in body] == ["tl_pdp", "pixels", "dlib"]
    assert [row[header.index("95 % interval")] for row in body] == ["0.012 to 0.088", "&nbsp;", "&nbsp;"]


def test_dataset_names():
    assert verdict.dataset_name("jaffe", "") == "jaffe"
    assert verdict.dataset_name("csv", "/data/lfw_emotion/faces.csv") == "lfw_emotion/faces.csv (csv)"
    assert verdict.dataset_name("folder", "/data/mine/") == "mine (folder)"
    assert verdict.dataset_name("csv", "labels.csv") == "labels.csv (csv)"
