"""The grid on development people, point against baseline: each grid point's measures on its inner folds'
held-out people (``tuning.grid_check``'s records) compared with its matched baseline's configured candidate on the
same fold units, as a study compares methods (``comparisons.significance``): a row per grid point, label source
and measure."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from emoverify.report import comparisons, runs_table
from emoverify.tuning import grid
from emoverify.tuning.grid_check import MEASURES

COLUMNS = [
    "method",
    "point",
    "settings",
    "own_term",
    "method_mean",
    "baseline_mean",
    *(column for column in comparisons.COLUMNS if column != "method"),
]


def grid_point_table(
    runs: pd.DataFrame, pairs: Mapping[str, str], terms: Mapping[str, list[str]], test_share: float
) -> pd.DataFrame:
    """Per grid point (candidate), label source and measure: its mean and its baseline's over fold units, and
    the paired comparison (method minus baseline, corrected t, Holm over one measure's grid points);
    ``terms`` gives each candidate's own expression terms (``own_term`` marks the measure of one of them)."""
    present = [measure for measure in MEASURES if measure in runs.columns and runs[measure].notna().any()]
    table = comparisons.significance(runs, dict(pairs), metrics=present, test_share=test_share)
    if table.empty:
        return pd.DataFrame(columns=COLUMNS)
    table["method_mean"] = [_mean_over_units(runs, row.method, row.labels, row.metric) for row in table.itertuples()]
    table["baseline_mean"] = [
        _mean_over_units(runs, row.baseline, row.baseline_labels, row.metric) for row in table.itertuples()
    ]
    table["point"] = table["method"]
    table["method"] = [grid.parent_method(name) for name in table["point"]]
    table["settings"] = [name.split(grid.SEPARATOR, 1)[1] for name in table["point"]]
    table["own_term"] = [metric in terms.get(point, ()) for point, metric in zip(table["point"], table["metric"])]
    return table[COLUMNS]


def _mean_over_units(runs: pd.DataFrame, method: str, labels: str, metric: str) -> float:
    """A measure's mean over fold units (seeds averaged within a unit first)."""
    return float(runs_table.fold_units(runs_table.ok_runs(runs, method, labels), [metric])[metric].mean())
