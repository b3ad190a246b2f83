"""A tuned study's candidates: every grid point's validation figure (what selection saw) beside its test figure
(what selection never saw), per fold unit, and the sensitivity figure drawn from them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emoverify.report import plots
from emoverify.report.runs_table import UNIT
from emoverify.report.statistics import describe, metric_bounds
from emoverify.tuning import winners

KEYS = ["method", "labels", "candidate", *UNIT]


def candidates_table(runs: pd.DataFrame, selections: list[dict], figure: str) -> pd.DataFrame:
    """One row per candidate and fold unit: its settings, the validation figure selection ranked it by, its test
    ``figure`` (and AUC) averaged over seeds, and whether it was selected."""
    chosen = winners.selections_table(selections)
    tested = winners.candidate_runs(runs)
    tested = tested[tested["status"] == "ok"]
    columns = [c for c in (figure, "auc") if c in tested]
    test = tested.groupby(KEYS)[columns].mean().rename(columns=lambda c: f"test_{c}").reset_index()
    for column in ("repeat", "fold"):
        chosen[column] = chosen[column].astype("Int64")
        test[column] = test[column].astype("Int64")
    return chosen.merge(test, on=KEYS, how="left")


def tuned_knob(table: pd.DataFrame) -> str | None:
    """The setting a method's panel puts on the x-axis: the one with more than one value."""
    settings = [c for c in table.columns if c.startswith("setting_") and table[c].nunique() > 1]
    return settings[0] if settings else None


def _curve(group: pd.DataFrame, knob: str, column: str, test_share: float, bounds) -> pd.DataFrame:
    rows = []
    for value, at in group.groupby(knob):
        rows.append({"x": value, **describe(at[column].to_numpy(), bounds=bounds, test_share=test_share)})
    return pd.DataFrame(rows).sort_values("x")


def sensitivity_figure(
    table: pd.DataFrame, winners_runs: pd.DataFrame, baselines: dict, figure: str, path, test_share: float = 0.0
):
    """Per method with expression losses and label source: the grid value on the x-axis (symmetric log, so a
    weight of 0 shows), the mean validation and test figure with 95 % intervals over fold units, the matched
    baseline's selected test figure as a band, and how many units selected each value."""
    panels = []
    for (method, label_source), group in table.groupby(["method", "labels"], sort=False):
        if not baselines.get(method):
            continue
        knob = tuned_knob(group)
        if knob is None:
            continue
        panels.append((method, label_source, knob, group))
    if not panels:
        return plots._notice_figure(path, "Sensitivity", "no method with expression losses has a grid of 2+ points")
    columns = min(3, len(panels))
    fig, axes = plots._grid(len(panels), columns, (4.6, 3.4))
    for ax, (method, label_source, knob, group) in zip(axes, panels):
        lines = (("validation", "tab:blue", "validation"), (f"test_{figure}", "tab:orange", "test"))
        for column, colour, name in lines:
            curve = _curve(group, knob, column, test_share, metric_bounds(figure))
            ax.plot(curve["x"], curve["mean"], marker="o", color=colour, label=name)
            ax.fill_between(curve["x"], curve["ci95_low"], curve["ci95_high"], color=colour, alpha=0.15)
        baseline = winners_runs[(winners_runs["method"] == baselines[method]) & (winners_runs["status"] == "ok")]
        if figure in baseline and len(baseline):
            units = baseline.groupby(UNIT)[figure].mean().to_numpy()
            band = describe(units, bounds=metric_bounds(figure), test_share=test_share)
            ax.axhline(band["mean"], color="grey", linestyle="--", label=f"{baselines[method]} (test, tuned)")
            if np.isfinite(band["ci95_low"]):
                ax.axhspan(band["ci95_low"], band["ci95_high"], color="grey", alpha=0.15)
        if metric_bounds(figure) is not None:  # a rate: the whole [0, 1] range, room for the marks above it
            ax.set_ylim(0.0, 1.16)
        picks = group[group["selected"]].groupby(knob).size()
        low, high = ax.get_ylim()
        mark = high - 0.06 * (high - low)  # inside the axes, so neither the mark nor its count is clipped
        for value, count in picks.items():
            ax.annotate(
                f"{count}x",
                (value, mark),
                xytext=(5, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color="tab:red",
            )
        ax.scatter(picks.index, [mark] * len(picks), marker="v", color="tab:red", label="selected (units)")
        positive = group.loc[group[knob] > 0, knob]
        ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
        ax.set_xlabel(knob.removeprefix("setting_"))
        ax.set_ylabel(figure)
        ax.set_title(f"{method} ({label_source})", fontsize=10)
        ax.legend(fontsize=7, loc="best")
    plots._title_and_layout(fig, f"Sensitivity: validation (selection) and test {figure} per grid value")
    return plots._save(fig, path)
