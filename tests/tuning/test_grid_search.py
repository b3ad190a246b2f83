"""The grid choice on development people: every label source weighs alike, each method keeps as many points."""

import pytest

from emoverify.tuning import grid_search
from emoverify.tuning.grid import TuningConfigError


def selection(method, labels, fold, figures, knob="expression_weight"):
    candidates = [
        {"name": f"{method}__{value}", "settings": {knob: value}, "validation": figure}
        for value, figure in figures.items()
    ]
    return {"method": method, "labels": labels, "repeat": 0, "fold": fold, "candidates": candidates}


def test_true_labels_and_their_control_weigh_alike_and_each_method_keeps_k_points():
    selections = []
    for fold in range(2):
        # manual favours 1.0, shuffled favours 0.01; 0.1 is second for both
        selections.append(selection("tl_pdp", "manual", fold, {0.01: 0.70, 0.1: 0.80, 1.0: 0.90}))
        selections.append(selection("tl_pdp", "shuffled", fold, {0.01: 0.95, 0.1: 0.85, 1.0: 0.60}))
        selections.append(selection("tl", "none", fold, {0.1: 0.5, 0.2: 0.7, 0.4: 0.6}, knob="margin"))
    figures = grid_search.point_figures(selections).set_index(["method", "point"])
    assert figures.loc[("tl_pdp", '{"expression_weight": 0.1}'), "figure"] == pytest.approx(0.825)
    assert figures.loc[("tl_pdp", '{"expression_weight": 1.0}'), "figure"] == pytest.approx(0.75)
    grids = grid_search.kept_grids(figures.reset_index(), keep=2)
    assert grids == {"tl_pdp": {"expression_weight": [0.01, 0.1]}, "tl": {"margin": [0.2, 0.4]}}
    # the configured 0.2 margin is kept here only because it ranks; a grid need not hold the fallback
    assert len(grids["tl_pdp"]["expression_weight"]) == len(grids["tl"]["margin"])


def test_a_point_missing_from_some_fold_units_is_not_ranked():
    # the configured 0.1 trains only in fold 0 (too small to rank), where it scores best; fold 1 is easier
    selections = [
        selection("af_pdm", "manual", 0, {1.0: 0.90, 10.0: 0.91, 0.1: 0.95}),
        selection("af_pdm", "manual", 1, {1.0: 0.99, 10.0: 0.98}),
        selection("af_pdm", "shuffled", 0, {1.0: 0.90, 10.0: 0.91, 0.1: 0.95}),
        selection("af_pdm", "shuffled", 1, {1.0: 0.99, 10.0: 0.98}),
    ]
    figures = grid_search.point_figures(selections).set_index(["method", "point"])
    assert not figures.loc[("af_pdm", '{"expression_weight": 0.1}'), "every_unit"]
    assert figures.loc[("af_pdm", '{"expression_weight": 1.0}'), "every_unit"]
    assert grid_search.kept_grids(figures.reset_index(), keep=1) == {"af_pdm": {"expression_weight": [1.0]}}
    with pytest.raises(TuningConfigError, match="2 grid points with figures in every fold unit, fewer than 3"):
        grid_search.kept_grids(figures.reset_index(), keep=3)
    # a point missing one label source's unit is as incomplete as one missing the unit everywhere
    selections[3] = selection("af_pdm", "shuffled", 1, {1.0: 0.99})
    figures = grid_search.point_figures(selections).set_index(["method", "point"])
    assert not figures.loc[("af_pdm", '{"expression_weight": 10.0}'), "every_unit"]


def test_too_few_points_or_no_figures_are_refused():
    with pytest.raises(TuningConfigError, match="fewer than 3"):
        grid_search.kept_grids(grid_search.point_figures([selection("tl", "none", 0, {0.1: 0.5, 0.2: 0.6})]), keep=3)
    with pytest.raises(TuningConfigError, match="did the selections run"):
        grid_search.point_figures([selection("tl", "none", 0, {0.1: None})])
