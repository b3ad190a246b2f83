"""Whether training moved each method from its start: the training-effect table on hand-made runs tables
whose answers are written out here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emoverify.report import statistics, training_effect
from emoverify.report.runs_table import SummaryInputError

LEAD = "tar_at_far_1e-2"
UNITS = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
START = [0.50, 0.55, 0.52, 0.48, 0.51]  # the untrained network, per fold unit
DLIB = [0.90, 0.92, 0.91, 0.89, 0.93]
TL_GAIN = [0.10, 0.12, 0.08, 0.11, 0.09]  # tl above its start in every unit
SHARE = 0.25


def row(method, labels, unit, value, best_epoch=math.nan, status="ok"):
    return {
        "method": method,
        "labels": labels,
        "repeat": unit[0],
        "fold": unit[1],
        "seed": 0,
        "status": status,
        "reference": method in ("untrained", "dlib"),
        "best_epoch": best_epoch,
        LEAD: value,
        "auc": value,
    }


@pytest.fixture
def runs():
    """tl (from untrained) gains; tl_euclidean is a head that shipped epoch 0, so it equals dlib, its start, in
    every unit; tl_pdp (manual) moves by noise; one tl_pdp run failed."""
    rows = []
    for k, unit in enumerate(UNITS):
        rows.append(row("untrained", "none", unit, START[k]))
        rows.append(row("dlib", "none", unit, DLIB[k]))
        rows.append(row("tl", "none", unit, START[k] + TL_GAIN[k], best_epoch=3))
        rows.append(row("tl_euclidean", "none", unit, DLIB[k], best_epoch=0))
        noise = [0.02, -0.03, 0.01, -0.02, 0.03][k]
        rows.append(row("tl_pdp", "manual", unit, START[k] + noise, best_epoch=k % 2))
    rows.append(row("tl_pdp", "manual", (1, 2), math.nan, status="missing: no metrics.json"))
    table = pd.DataFrame(rows)
    for column in ("repeat", "fold", "seed"):
        table[column] = pd.array(table[column], dtype="Int64")
    return table


def effect(runs):
    summary = statistics.summarize(runs, test_share=SHARE)
    starts = {"tl": "untrained", "tl_euclidean": "dlib", "tl_pdp": "untrained"}
    methods = ["tl", "tl_euclidean", "tl_pdp"]
    return training_effect.training_effect(runs, summary, methods, {"tl", "tl_euclidean"}, [LEAD, "auc"], SHARE, starts)


def corrected_p(differences):
    """The corrected resampled t-test written out: mean / (sd * sqrt(1/J + share)), J - 1 degrees of freedom."""
    d = np.asarray(differences, dtype=float)
    t = d.mean() / (d.std(ddof=1) * math.sqrt(1 / len(d) + SHARE))
    return 2 * stats.t.sf(abs(t), len(d) - 1)


def test_each_method_gets_its_share_of_trained_epochs_from_its_ok_runs(runs):
    table = effect(runs).drop_duplicates(["method", "labels"]).set_index("method")
    assert list(table.index) == ["tl", "tl_euclidean", "tl_pdp"]
    assert list(table["n_runs"]) == [5, 5, 5]  # the failed tl_pdp run is not a run that shipped anything
    assert list(table["runs_trained"]) == [5, 0, 2]  # tl_pdp ships epoch 1 in units 1 and 3
    assert list(table["share_trained"]) == [1.0, 0.0, 0.4]
    assert list(table["baseline"]) == [True, True, False]
    assert list(table["start"]) == ["untrained", "dlib", "untrained"]


def test_each_method_is_tested_against_its_own_start_over_fold_units(runs):
    table = effect(runs)
    lead = table[table["metric"] == LEAD].set_index("method")
    tl = lead.loc["tl"]
    assert tl["difference"] == pytest.approx(np.mean(TL_GAIN)) and tl["n_units"] == 5
    assert tl["mean"] == pytest.approx(np.mean(START) + np.mean(TL_GAIN))
    assert tl["start_mean"] == pytest.approx(np.mean(START))
    assert tl["p"] == pytest.approx(corrected_p(TL_GAIN))
    noise = [0.02, -0.03, 0.01, -0.02, 0.03]
    assert lead.loc["tl_pdp", "p"] == pytest.approx(corrected_p(noise))
    # Holm over the two comparisons that moved: the one equal to its start in every unit is outside the family
    p = sorted([corrected_p(TL_GAIN), corrected_p(noise)])
    assert tl["p_holm"] == pytest.approx(2 * p[0]) and lead.loc["tl_pdp", "p_holm"] == pytest.approx(
        max(2 * p[0], p[1])
    )
    assert list(lead["finding"]) == ["above its start", "same as its start in every unit", "no difference detected"]
    assert lead.loc["tl_euclidean", "start_mean"] == pytest.approx(np.mean(DLIB))


def test_the_verdict_page_sentence_counts_trained_runs_and_methods_moved(runs):
    sentence = training_effect.training_sentence(effect(runs), {LEAD: "TAR at FAR 1e-2", "auc": "AUC"})
    assert sentence.startswith("Training: 7 of 15 runs ship a trained epoch (the others their untrained epoch 0).")
    assert (
        "On TAR at FAR 1e-2, training moved 1 of 3 methods (per label source) from their start (p after Holm below "
        "0.05): 1 above it, 0 below; baselines: tl from untrained, above its start; tl_euclidean from dlib, same as "
        "its start in every unit." in sentence
    )
    assert "On AUC, training moved 1 of 3" in sentence
    assert training_effect.training_sentence(effect(runs).iloc[0:0], {}) == (
        "Training: no trained method ran against its starting point."
    )


def test_a_start_that_never_ran_leaves_the_method_untested(runs):
    table = effect(runs[runs["method"] != "dlib"])
    euclidean = table[table["method"] == "tl_euclidean"]
    assert set(euclidean["finding"]) == {"not tested"} and euclidean["difference"].isna().all()


def test_a_runs_table_without_shipped_epochs_is_refused(runs):
    with pytest.raises(SummaryInputError, match="no best_epoch column"):
        effect(runs.drop(columns="best_epoch"))
