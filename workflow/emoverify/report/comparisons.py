"""Paired comparisons over independent units: each method against its matched baseline, and label sources
against each other, on fold-level differences (seeds averaged within a repeat and fold).

Primary test: the corrected resampled t-test for repeated k-fold cross-validation (Nadeau and Bengio 2003;
Bouckaert and Frank 2004), t = mean(d) / (sd(d) * sqrt(1/J + n_test/n_train)) with J - 1 degrees of freedom,
its 95 % interval, and the smallest difference the design detects with 80 % power at the observed spread
(from the noncentral t);
Wilcoxon's signed-rank test on the same differences as a secondary column; Holm's adjustment over every
comparison of a metric in a table (its family), leaving out the comparisons identical to their baseline in every
unit: their p is 1 in any family, and counting them would only raise every other p. ``detectable_diff_holm`` is
the detectable difference at the level a single true gain must pass in that family, Holm's first step
alpha / m (m in ``holm_family``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from emoverify.registry import DETECTED, MANUAL, SHUFFLED, SHUFFLED_ACROSS
from emoverify.report.runs_table import UNIT, SummaryInputError, check_runs, fold_units, ok_runs
from emoverify.report.statistics import ALPHA, HEADLINE_METRICS, corrected_scale, detectable_difference, holm_level

COLUMNS = [
    "method",
    "labels",
    "baseline",
    "baseline_labels",
    "metric",
    "n_units",
    "mean_diff",
    "ci95_low",
    "ci95_high",
    "p",
    "p_holm",
    "sd_diff",
    "detectable_diff",
    "holm_family",
    "detectable_diff_holm",
    "wilcoxon_p",
    "note",
]
# the across-person control last: against the within-person one it measures the amount of supervision alone
LABEL_SOURCE_PAIRS = (
    (MANUAL, DETECTED),
    (MANUAL, SHUFFLED),
    (DETECTED, SHUFFLED),
    (MANUAL, SHUFFLED_ACROSS),
    (DETECTED, SHUFFLED_ACROSS),
    (SHUFFLED, SHUFFLED_ACROSS),
)
POWER = 0.8
OUTSIDE_FAMILY = "identical to its baseline in every unit: outside the Holm family"


def corrected_t_test(differences: Sequence[float], test_share: float) -> dict:
    """Mean and sd of fold-level differences, corrected resampled t interval and p, the smallest detectable
    difference (two-sided alpha 0.05, power 0.8) and Wilcoxon's p; NaN with a note where undefined."""
    d = np.asarray(differences, dtype=float)
    d = np.where(np.abs(d) <= 1e-12, 0.0, d)  # floating-point noise counts as a tie
    result = {
        "n_units": int(d.size),
        "mean_diff": math.nan,
        "ci95_low": math.nan,
        "ci95_high": math.nan,
        "p": math.nan,
        "sd_diff": math.nan,
        "detectable_diff": math.nan,
        "wilcoxon_p": math.nan,
        "note": "",
    }
    if d.size == 0:
        result["note"] = "no (repeat, fold) unit has this metric for both"
        return result
    result["mean_diff"] = float(d.mean())
    notes = []
    if d.size >= 2:
        result["sd_diff"] = float(d.std(ddof=1))
        scale = result["sd_diff"] * corrected_scale(d.size, test_share)
        critical = float(stats.t.ppf(0.975, d.size - 1))
        result["ci95_low"], result["ci95_high"] = (
            result["mean_diff"] - critical * scale,
            result["mean_diff"] + critical * scale,
        )
        result["detectable_diff"] = detectable_difference(result["sd_diff"], d.size, test_share, POWER)
        result["p"] = float(corrected_t_p(d, test_share))
    else:
        notes.append("one unit: no interval or test")
    nonzero = int(np.count_nonzero(d))
    if nonzero >= 2:
        result["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
    else:
        notes.append(f"{nonzero} non-zero difference(s): Wilcoxon test needs at least 2")
    result["note"] = "; ".join(notes)
    return result


def corrected_t_p(differences, test_share: float) -> np.ndarray:
    """Two-sided p of the corrected resampled t-test along the last axis (one study's fold-unit differences
    per row, at least two each): 1 for differences all zero, 0 where they agree exactly on a non-zero value."""
    d = np.asarray(differences, dtype=float)
    n = d.shape[-1]
    if n < 2:
        raise SummaryInputError(f"the corrected t-test needs at least two fold units, got {n}")
    mean = d.mean(axis=-1)
    scale = d.std(axis=-1, ddof=1) * corrected_scale(n, test_share)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(mean) / scale, n - 1)
    return np.where(scale > 0, p, np.where(mean == 0, 1.0, 0.0))


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control) of the finite ones; NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else np.empty(0)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def identical_in_every_unit(row) -> bool:
    """Whether a comparison's method gave its baseline's figure in every one of at least two fold units (a zero
    difference with zero spread): its zero detectable difference is not power, and it is no member of a Holm
    family."""
    return row["n_units"] >= 2 and row["mean_diff"] == 0 and row["sd_diff"] == 0


def outcome(test, words: tuple[str, str, str]) -> str:
    """What one comparison row found, in the reader's ``words`` for (identical in every unit, above, below):
    "not tested" without a p after Holm, "above" or "below" where p after Holm is under ALPHA, otherwise "no
    difference detected"."""
    identical, above, below = words
    if not math.isfinite(test["p_holm"]):
        return "not tested"
    if identical_in_every_unit(test):
        return identical
    if test["p_holm"] < ALPHA:
        return above if test["mean_diff"] > 0 else below
    return "no difference detected"


def _with_holm(rows: list[dict], test_share: float) -> pd.DataFrame:
    """The comparison table, with p adjusted over the comparisons of the same metric (its family) that differ
    from their baseline somewhere, the family's size, and each one's detectable difference at the family's
    Holm level. An identical comparison keeps p_holm = p = 1 and a note, outside the family."""
    table = pd.DataFrame(rows, columns=COLUMNS)
    if table.empty:
        return table
    identical = table.apply(identical_in_every_unit, axis=1).astype(bool)
    table.loc[identical, "note"] = [
        "; ".join(filter(None, [note, OUTSIDE_FAMILY])) for note in table.loc[identical, "note"]
    ]
    table["p_holm"] = table["p"].where(identical)
    for _, index in table[~identical].groupby("metric", sort=False).groups.items():
        table.loc[index, "p_holm"] = holm_adjust(table.loc[index, "p"].to_numpy(dtype=float))
        members = [i for i in index if math.isfinite(table.at[i, "p"])]
        level = holm_level(len(members))
        for i in members:
            table.at[i, "holm_family"] = len(members)
            table.at[i, "detectable_diff_holm"] = detectable_difference(
                table.at[i, "sd_diff"], table.at[i, "n_units"], test_share, POWER, level
            )
    table["holm_family"] = pd.array(table["holm_family"], dtype="Int64")
    return table


def _compare(runs, metrics, method, label_source, baseline, baseline_label_source, test_share, note="") -> list[dict]:
    mine = fold_units(ok_runs(runs, method, label_source), metrics)
    if mine.empty:
        note = "; ".join(filter(None, [note, f"{method} ({label_source}) has no successful runs"]))
    theirs = (
        mine.iloc[0:0]
        if baseline_label_source is None
        else fold_units(ok_runs(runs, baseline, baseline_label_source), metrics)
    )
    merged = mine[UNIT + list(metrics)].merge(theirs[UNIT + list(metrics)], on=UNIT, suffixes=("", "__base"))
    rows = []
    for metric in metrics:
        diff = (merged[metric] - merged[f"{metric}__base"]).to_numpy(dtype=float)
        tested = corrected_t_test(diff[np.isfinite(diff)], test_share)
        tested["note"] = "; ".join(filter(None, [note, tested["note"]]))
        rows.append(
            {
                "method": method,
                "labels": label_source,
                "baseline": baseline,
                "baseline_labels": baseline_label_source or "",
                "metric": metric,
                **tested,
            }
        )
    return rows


def _paired_metrics(runs: pd.DataFrame, metrics: Sequence[str] | None) -> list[str]:
    checked = check_runs(runs, metrics, needed=("method", "labels", "status", *UNIT, "seed"))
    if metrics is None:
        return [m for m in HEADLINE_METRICS if m in checked] or checked
    return checked


def _baseline_label_source(runs: pd.DataFrame, baseline: str, label_source: str) -> tuple[str | None, str]:
    """Which label source of the baseline pairs with ``label_source``, and a note when none does."""
    available = list(dict.fromkeys(runs.loc[runs["method"] == baseline, "labels"]))
    if not available:
        return None, f"baseline {baseline!r} has no runs"
    if label_source in available:
        return label_source, ""
    if len(available) == 1:
        return available[0], ""
    raise SummaryInputError(
        f"baseline {baseline!r} has label sources {available} but none matches {label_source!r}; "
        "run the baseline with the same label sources or without labels"
    )


def significance(
    runs: pd.DataFrame, baselines: Mapping[str, str], metrics: Sequence[str] | None = None, test_share: float = 0.0
) -> pd.DataFrame:
    """Each method against its matched baseline, paired on (repeat, fold) units of ok runs.

    ``baselines`` maps method -> baseline method (None or "" = no test). Every label source of a method is
    compared with the baseline's runs of the same source, or with its only source (``none`` for label-free
    baselines). Differences are method minus baseline; ``test_share`` = n_test / n_train of the folds.
    """
    metrics = _paired_metrics(runs, metrics)
    rows = []
    for method, baseline in baselines.items():
        if not baseline:  # a method without a baseline (e.g. the baseline itself) is not tested
            continue
        if method == baseline:
            raise SummaryInputError(f"method {method!r} is mapped to itself as baseline; drop it from the mapping")
        for label_source in dict.fromkeys(runs.loc[runs["method"] == method, "labels"]):
            baseline_label_source, note = _baseline_label_source(runs, baseline, label_source)
            rows += _compare(runs, metrics, method, label_source, baseline, baseline_label_source, test_share, note)
    return _with_holm(rows, test_share)


def label_source_comparison(
    runs: pd.DataFrame, metrics: Sequence[str] | None = None, test_share: float = 0.0
) -> pd.DataFrame:
    """Label sources against each other for every method run with both (manual - detected, manual -
    shuffled, detected - shuffled, each true source - shuffled_across, shuffled - shuffled_across), paired on
    (repeat, fold) units; baseline = the same method."""
    metrics = _paired_metrics(runs, metrics)
    rows = []
    for method in dict.fromkeys(runs["method"]):
        sources = set(runs.loc[runs["method"] == method, "labels"])
        for first, second in LABEL_SOURCE_PAIRS:
            if {first, second} <= sources:
                rows += _compare(runs, metrics, method, first, method, second, test_share)
    return _with_holm(rows, test_share)
