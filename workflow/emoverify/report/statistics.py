"""Summaries with honest uncertainty: per (method, label source), the mean over independent fold units and
a 95 % interval from the corrected resampled t (Nadeau and Bengio 2003), which widens the naive interval for
the overlap between the training sets of cross-validation folds."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, stats

from emoverify.report.runs_table import SummaryInputError, check_runs, fold_units

# the metrics a reader looks at first (tables and tests default to those present)
HEADLINE_METRICS = (
    "tar_at_far_1e-2",
    "tar_at_far_1e-1",
    "rank1",
    "eer",
    "auc",
    "balanced_accuracy",
    "auc_same_expression",
    "auc_cross_expression",
    "auc_all_pairs",
)
STAT_SUFFIXES = ("mean", "sd", "ci95_low", "ci95_high", "n")
# rates and areas live in [0, 1]: their intervals are clipped there (with few units they would pass 1)
UNIT_INTERVAL_METRIC = re.compile(r"^(auc|eer|tar_at_far|balanced_accuracy|rank1)")


ALPHA = 0.05  # the family-wise level of every test the report makes


def holm_level(family_size: int, alpha: float = ALPHA) -> float:
    """The two-sided level a single true effect must pass among ``family_size`` tests under Holm's adjustment
    (its first step: the smallest p against alpha / m); alpha itself for a family of one or none."""
    return alpha / max(int(family_size), 1)


def corrected_scale(n_units: int, test_share: float) -> float:
    """sqrt(1/J + n_test/n_train): the corrected resampled standard-error factor of J fold units whose
    training sets overlap (test_share = n_test / n_train); test_share 0 gives the naive 1/sqrt(J)."""
    return math.sqrt(1.0 / n_units + test_share)


def corrected_power(effect: float, sd: float, n_units: int, test_share: float, alpha: float = 0.05) -> float:
    """Power of the two-sided corrected resampled t-test (``n_units`` fold units, spread ``sd`` of their
    differences) to detect a true mean difference ``effect``: the noncentral t with n_units - 1 degrees of
    freedom and noncentrality effect / (sd * sqrt(1/J + n_test/n_train))."""
    df = n_units - 1
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    return _two_sided_power(effect / (sd * corrected_scale(n_units, test_share)), df, critical)


def _two_sided_power(noncentrality: float, df: int, critical: float) -> float:
    # the lower tail as the upper tail of the mirrored shift: scipy's nct.cdf far in the left tail gives NaN
    upper = stats.nct.sf(critical, df, noncentrality)
    lower = stats.nct.sf(critical, df, -noncentrality)
    return float(upper + lower)


@lru_cache(maxsize=256)
def _noncentrality_for_power(df: int, alpha: float, power: float) -> float:
    """The noncentrality at which the two-sided t-test with ``df`` degrees of freedom reaches ``power``."""
    critical = float(stats.t.ppf(1 - alpha / 2, df))

    def shortfall(noncentrality: float) -> float:
        return _two_sided_power(noncentrality, df, critical) - power

    upper = critical + float(stats.norm.ppf(power)) + 1.0
    while shortfall(upper) < 0:  # few units: the noncentral t's heavy tails need a larger shift
        upper *= 2
    return float(optimize.brentq(shortfall, 0.0, upper, xtol=1e-12, rtol=1e-12))


def detectable_difference(sd: float, n_units: int, test_share: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest true mean difference the corrected resampled t-test (two-sided ``alpha``) finds with
    probability ``power``, from the noncentral t at the observed spread ``sd`` of ``n_units`` fold-unit
    differences; NaN with fewer than two units or no finite spread."""
    if n_units < 2 or not math.isfinite(sd):
        return math.nan
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise ValueError(f"power and alpha must lie in (0, 1), got power {power!r}, alpha {alpha!r}")
    return _noncentrality_for_power(int(n_units) - 1, alpha, power) * sd * corrected_scale(n_units, test_share)


def describe(values: Sequence[float], bounds: tuple[float, float] | None = None, test_share: float = 0.0) -> dict:
    """mean, sd (ddof=1), 95 % corrected resampled t-interval and n of the finite values; NaN where undefined.

    ``bounds`` clips the interval to the range the metric can take.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return {"mean": math.nan, "sd": math.nan, "ci95_low": math.nan, "ci95_high": math.nan, "n": 0}
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "sd": math.nan, "ci95_low": math.nan, "ci95_high": math.nan, "n": 1}
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd * corrected_scale(n, test_share)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "sd": sd, "ci95_low": low, "ci95_high": high, "n": n}


def metric_bounds(metric: str) -> tuple[float, float] | None:
    return (0.0, 1.0) if UNIT_INTERVAL_METRIC.match(metric) else None


SINGLE_SESSION = "single_session_losses"  # the runs table's flag (emoverify.training.pair_counts)


def summarize(runs: pd.DataFrame, metrics: Sequence[str] | None = None, test_share: float = 0.0) -> pd.DataFrame:
    """One row per (method, labels) present in ``runs``: n_runs (ok), n_missing, n_units (fold units with an
    ok run), runs_without_pairs (ok runs where an expression loss used no pair), single_session_losses (where the
    runs carry that flag: the losses whose pairs all fell within one recording session), and per metric
    ``<metric>_mean, _sd, _ci95_low, _ci95_high, _n`` over the fold units (seeds averaged first).

    ``test_share`` (n_test / n_train of the folds) corrects the intervals for overlapping training sets.
    A metric no ok run could compute is left out; a method whose runs all failed has n_runs 0, its reasons
    in ``missing_reasons`` and NaN statistics.
    """
    metrics = check_runs(runs, metrics)
    rows = []
    for (method, label_source), group in runs.groupby(["method", "labels"], sort=False):
        ok = group["status"] == "ok"
        units = fold_units(group[ok], metrics)
        unused = group.loc[ok, "losses_without_pairs"] if "losses_without_pairs" in group else pd.Series([], dtype=str)
        row = {
            "method": method,
            "labels": label_source,
            "reference": bool(group["reference"].any()) if "reference" in group else False,
            "n_runs": int(ok.sum()),
            "n_missing": int((~ok).sum()),
            "n_units": len(units),
            "runs_without_pairs": int((unused != "").sum()),
            "missing_reasons": "; ".join(sorted(set(group.loc[~ok, "status"]))),
        }
        if SINGLE_SESSION in group:  # losses whose pairs all fall within one recording session
            flagged = group.loc[ok, SINGLE_SESSION].fillna("").astype(str)
            row[SINGLE_SESSION] = ", ".join(sorted({name for text in flagged for name in text.split(", ") if name}))
        for metric in metrics:
            for suffix, value in describe(units[metric], metric_bounds(metric), test_share).items():
                row[f"{metric}_{suffix}"] = value
        rows.append(row)
    columns = ["method", "labels", "reference", "n_runs", "n_missing", "n_units", "runs_without_pairs"]
    columns += [SINGLE_SESSION] if SINGLE_SESSION in runs else []
    columns += ["missing_reasons", *(f"{m}_{s}" for m in metrics for s in STAT_SUFFIXES)]
    return pd.DataFrame(rows, columns=columns)


def summarized_metrics(summary: pd.DataFrame) -> list[str]:
    """The metrics a summary table holds, in column order."""
    return [column[: -len("_mean")] for column in summary.columns if column.endswith("_mean")]


def to_markdown(summary: pd.DataFrame, metrics: Sequence[str] | None = None, digits: int = 3) -> str:
    """A Markdown table, one cell per metric as "mean ± sd [ci95_low, ci95_high]" over fold units.

    Defaults to the headline metrics present. A single unit shows "mean (n=1)"; no finite value "n/a"; an
    interval clipped to the metric's range says so.
    """
    available = summarized_metrics(summary)
    if metrics is None:
        metrics = [m for m in HEADLINE_METRICS if m in available] or available
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise SummaryInputError(f"metrics {unknown} are not in the summary; available: {available}")
    header = ["method", "labels", "runs (units)", *metrics]
    lines = [_markdown_row(header), _markdown_row(["---"] * len(header))]
    for _, row in summary.iterrows():
        runs = f"{row['n_runs']} ({row['n_units']})" + (f", {row['n_missing']} missing" if row["n_missing"] else "")
        if row.get("runs_without_pairs", 0):
            runs += f", {row['runs_without_pairs']} with an expression loss that saw no pair"
        cells = [_format_cell(row, metric, digits) for metric in metrics]
        lines.append(_markdown_row([str(row["method"]), str(row["labels"]), runs, *cells]))
    return "\n".join(lines)


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _format_cell(row: pd.Series, metric: str, digits: int) -> str:
    mean, n = row[f"{metric}_mean"], row[f"{metric}_n"]
    if not np.isfinite(mean):
        return "n/a"
    if n < 2:
        return f"{mean:.{digits}f} (n=1)"
    sd, low, high = row[f"{metric}_sd"], row[f"{metric}_ci95_low"], row[f"{metric}_ci95_high"]
    return f"{mean:.{digits}f} ± {sd:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]{_clipped(metric, sd, low, high)}"


def _clipped(metric: str, sd: float, low: float, high: float) -> str:
    """Says so where ``describe`` clipped an interval to the metric's range: with a spread, an end exactly at a
    bound is one the computed interval passed."""
    bounds = metric_bounds(metric)
    if bounds is None or not sd > 0 or (low != bounds[0] and high != bounds[1]):
        return ""
    return f" (clipped to [{bounds[0]:g}, {bounds[1]:g}])"


POWER_CURVE_COLUMNS = ["comparison", "axis", "x", "detectable_diff", "observed", "holm_family", "alpha"]
FOLD_UNITS_AXIS = "fold units"
TEST_PEOPLE_AXIS = "test people per fold"


def power_curves(
    comparisons: pd.DataFrame,
    *,
    test_share: float,
    test_people: float,
    units: Sequence[int],
    people: Sequence[float],
    power: float = 0.8,
    holm_family: int = 1,
) -> pd.DataFrame:
    """The detectable difference of each comparison (rows with ``method``, ``labels``, ``baseline``,
    ``n_units`` and ``sd_diff``, the spread of its fold-unit differences) as the design changes, one row per
    (comparison, axis, x), at the two-sided level ``alpha`` Holm's adjustment sets one true effect among
    ``holm_family`` comparisons (5 % / m; both are columns):

    - against fold units J (folds x repeats) at the observed spread: exact under the corrected test's model;
    - against test people per fold, J kept: the spread scaled by sqrt(test_people / x), as if all of it came
      from which people are tested. Spread that comes from the training sets does not shrink, so this axis
      is the best case.

    ``observed`` marks the study's own design (its n_units and ``test_people``), which is always a point.
    Comparisons without a finite spread or with fewer than two units are left out.
    """
    rows, alpha = [], holm_level(holm_family)
    for _, row in comparisons.iterrows():
        n_units, sd = int(row["n_units"]), float(row["sd_diff"])
        if n_units < 2 or not math.isfinite(sd):
            continue
        name = f"{row['method']} ({row['labels']}) - {row['baseline']}"
        for x in sorted({*map(int, units), n_units}):
            if x >= 2:
                difference = detectable_difference(sd, x, test_share, power, alpha)
                rows.append([name, FOLD_UNITS_AXIS, x, difference, x == n_units, holm_family, alpha])
        if math.isfinite(test_people) and test_people > 0:
            for x in sorted({*map(float, people), float(test_people)}):
                if x > 0:
                    scaled = sd * math.sqrt(test_people / x)
                    difference = detectable_difference(scaled, n_units, test_share, power, alpha)
                    rows.append([name, TEST_PEOPLE_AXIS, x, difference, x == test_people, holm_family, alpha])
    return pd.DataFrame(rows, columns=POWER_CURVE_COLUMNS)


def design_grid(folds: int, repeats: int, test_people: float) -> tuple[list[int], list[float]]:
    """The designs a power figure shows: 1 to 10 repeats of the study's folds (and at least twice its
    repeats), and a quarter to four times its test people per fold."""
    units = [folds * r for r in range(1, max(10, 2 * repeats) + 1)]
    people = []
    if math.isfinite(test_people) and test_people > 0:
        people = sorted({float(v) for v in np.geomspace(max(2.0, test_people / 4), test_people * 4, 13).round()})
    return units, people
