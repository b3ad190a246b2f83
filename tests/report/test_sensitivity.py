"""The candidates table and the sensitivity figure of a tuned study."""

import numpy as np
import pandas as pd

from emoverify.report import sensitivity


def runs_and_selections():
    rng = np.random.default_rng(0)
    rows, selections = [], []
    grid = {"tl_pdp": [0.0, 0.1, 1.0], "tl": [0.1, 0.2, 0.4]}
    for method, values in grid.items():
        labels = "manual" if method == "tl_pdp" else "none"
        knob = "expression_weight" if method == "tl_pdp" else "margin"
        for fold in range(4):
            names = [f"{method}__x{i}" for i in range(3)]
            for name in names:
                rows.append(
                    {
                        "method": name,
                        "labels": labels,
                        "repeat": 0,
                        "fold": fold,
                        "seed": 0,
                        "status": "ok",
                        "reference": False,
                        "path": "",
                        "notes": "",
                        "tar_at_far_1e-2": rng.uniform(0.3, 0.7),
                        "auc": rng.uniform(0.8, 0.9),
                    }
                )
            records = [
                {
                    "name": n,
                    "settings": {knob: v},
                    "validation": 0.1 * i,
                    "figure_used": "tar_at_far_1e-2",
                    "status": "ok",
                }
                for i, (n, v) in enumerate(zip(names, values))
            ]
            selections.append(
                {
                    "method": method,
                    "labels": labels,
                    "repeat": 0,
                    "fold": fold,
                    "candidates": records,
                    "winner": names[2],
                    "winner_settings": {knob: values[2]},
                    "reason": "highest",
                    "tuned": True,
                }
            )
    return pd.DataFrame(rows), selections


def test_the_candidates_table_joins_validation_and_test_figures_per_unit():
    runs, selections = runs_and_selections()
    table = sensitivity.candidates_table(runs, selections, "tar_at_far_1e-2")
    assert len(table) == 24
    row = table[(table["candidate"] == "tl_pdp__x1") & (table["fold"] == 2)].iloc[0]
    source = runs[(runs["method"] == "tl_pdp__x1") & (runs["fold"] == 2)].iloc[0]
    assert row["test_tar_at_far_1e-2"] == source["tar_at_far_1e-2"] and row["validation"] == 0.1
    assert row["setting_expression_weight"] == 0.1 and not row["selected"]
    assert table.groupby(["method", "fold"])["selected"].sum().eq(1).all()


def test_the_sensitivity_figure_draws_a_panel_per_tuned_expression_method(tmp_path):
    from emoverify.tuning import winners

    runs, selections = runs_and_selections()
    table = sensitivity.candidates_table(runs, selections, "tar_at_far_1e-2")
    path = sensitivity.sensitivity_figure(
        table,
        winners.winning_runs(runs, selections),
        {"tl_pdp": "tl", "tl": None},
        "tar_at_far_1e-2",
        tmp_path / "s.png",
    )
    assert path.stat().st_size > 20_000
    empty = sensitivity.sensitivity_figure(
        table, winners.winning_runs(runs, selections), {"tl_pdp": None}, "tar_at_far_1e-2", tmp_path / "e.png"
    )
    assert empty.stat().st_size < path.stat().st_size
