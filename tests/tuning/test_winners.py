"""A tuned study's runs table: only the selected candidates, under their method's name."""

import pandas as pd
import pytest

from emoverify.tuning import winners


def runs():
    rows = []
    for method, tar in (("tl_pdp__w0p01", 0.3), ("tl_pdp__w1", 0.9), ("tl__m0p2", 0.5), ("pixels", 0.4)):
        for fold in (0, 1):
            labels = "manual" if method.startswith("tl_pdp") else "none"
            rows.append(
                {
                    "method": method,
                    "labels": labels,
                    "repeat": 0,
                    "fold": fold,
                    "seed": 0,
                    "status": "ok",
                    "reference": method == "pixels",
                    "path": "",
                    "notes": "",
                    "tar_at_far_1e-2": tar + fold / 10,
                }
            )
    return pd.DataFrame(rows)


def chosen(method, labels, fold, winner, settings):
    return {
        "method": method,
        "labels": labels,
        "repeat": 0,
        "fold": fold,
        "winner": winner,
        "winner_settings": settings,
        "reason": "why",
        "tuned": True,
        "candidates": [],
    }


def test_each_unit_keeps_its_winner_renamed_to_the_method():
    selections = [
        chosen("tl_pdp", "manual", 0, "tl_pdp__w0p01", {"expression_weight": 0.01}),
        chosen("tl_pdp", "manual", 1, "tl_pdp__w1", {"expression_weight": 1.0}),
        chosen("tl", "none", 0, "tl__m0p2", {"margin": 0.2}),
        chosen("tl", "none", 1, None, None),
    ]
    table = winners.winning_runs(runs(), selections).set_index(["method", "fold"])
    assert table.loc[("tl_pdp", 0), "tar_at_far_1e-2"] == 0.3  # the fold-0 winner, not the better test figure
    assert table.loc[("tl_pdp", 1), "tar_at_far_1e-2"] == 1.0
    assert table.loc[("tl_pdp", 1), "candidate"] == "tl_pdp__w1"
    assert table.loc[("tl_pdp", 1), "setting_expression_weight"] == 1.0
    assert table.loc[("tl", 0), "setting_margin"] == 0.2
    assert table.loc[("tl", 1), "status"] == "missing: no candidate selected (why)"
    assert set(table.index.get_level_values("method")) == {"tl_pdp", "tl", "pixels"}
    assert len(table) == 6


def test_the_candidates_keep_their_parent_method():
    table = winners.candidate_runs(runs())
    assert set(table["method"]) == {"tl_pdp", "tl"} and "tl_pdp__w1" in set(table["candidate"])


def test_a_selection_naming_a_candidate_without_runs_stops_the_report():
    stale = chosen("tl_pdp", "manual", 0, "tl_pdp__w0p1", {"expression_weight": 0.1})  # not in runs()
    with pytest.raises(winners.StaleSelectionError, match=r"fold 0 names candidate tl_pdp__w0p1, which has no run"):
        winners.winning_runs(runs(), [stale])
