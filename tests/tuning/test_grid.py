"""Tuning candidates from the config: names, settings, equal budgets, the fallback setting."""

from pathlib import Path

import pytest
import yaml

from emoverify import study
from emoverify.schema import fill_defaults
from emoverify.tuning import grid

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config():
    """The default config with its schema defaults and tuning on."""
    loaded = yaml.safe_load((ROOT / "config.yaml").read_text())
    loaded["tuning"] = {"enabled": True}
    fill_defaults(loaded)
    return loaded


def names(config, method):
    return [candidate.name for candidate in grid.method_candidates(config, method)]


def test_an_expression_method_gets_one_candidate_per_weight_with_every_term_moved_together(config):
    candidates = grid.method_candidates(config, "tl_pdp")
    assert [c.name for c in candidates] == ["tl_pdp__w0p01", "tl_pdp__w0p1", "tl_pdp__w1"]
    assert [c.spec["aux"] for c in candidates] == [{"pdp": 0.01}, {"pdp": 0.1}, {"pdp": 1.0}]
    assert all(c.training == {} for c in candidates)
    combined = grid.method_candidates(config, "tl_pdp_fbv")[0]
    assert combined.spec["aux"] == {"pdp": 0.01, "fbv": 0.01}


def test_a_baseline_tunes_its_own_margin_with_as_many_candidates(config):
    candidates = grid.method_candidates(config, "tl")
    assert [c.name for c in candidates] == ["tl__m0p1", "tl__m0p2", "tl__m0p4"]
    assert [c.training for c in candidates] == [{"margin": 0.1}, {"margin": 0.2}, {"margin": 0.4}]
    assert candidates[0].spec.get("aux", {}) == {}
    assert [c.training for c in grid.method_candidates(config, "af")][1] == {"arcface_margin": 0.5}
    assert study.run_training_recipe(config, "tl__m0p4")["margin"] == 0.4
    assert study.run_training_recipe(config, "tl")["margin"] == config["training"]["margin"]
    spec = study.run_method_spec(config, "tl_pdp__w1")
    assert spec == {"primary": "triplet", "geometry": "spherical", "aux": {"pdp": 1.0}}


def test_fbv_scale_is_crossed_with_the_weights_only_where_fbv_is_used(config):
    config["tuning"]["fbv_scale"] = [0.5, 1.0]
    config["tuning"]["margin"] = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert len(names(config, "tl_fbv")) == 6
    assert "tl_fbv__w0p1_s0p5" in names(config, "tl_fbv")
    assert grid.all_candidates(config, ["tl_fbv"])["tl_fbv__w0p1_s0p5"].training == {"fbv_scale": 0.5}
    assert len(names(config, "tl_pdp")) == 3


def test_adding_a_grid_value_keeps_every_other_candidate_name(config):
    before = set(names(config, "tl_pdp"))
    config["tuning"]["expression_weight"] = [0.01, 0.03, 0.1, 1.0]
    after = set(names(config, "tl_pdp"))
    assert before < after and after - before == {"tl_pdp__w0p03"}


def test_a_method_grid_replaces_the_defaults(config):
    config["methods"]["tl_pdp"]["grid"] = {"pdp": [0.0, 0.1, 0.5]}
    assert names(config, "tl_pdp") == ["tl_pdp__pdp0", "tl_pdp__pdp0p1", "tl_pdp__pdp0p5"]
    assert grid.default_candidate(config, "tl_pdp").name == "tl_pdp__pdp0p1"
    assert "grid" not in study.run_method_spec(config, "tl_pdp")


def test_unequal_budgets_stop_the_study_naming_both_methods(config):
    config["tuning"]["margin"] = [0.2, 0.4]
    with pytest.raises(study.ConfigError, match="tl_pdp has 3 candidates, its baseline tl 2"):
        study.check_study(config)


def test_a_configured_setting_outside_the_grid_trains_as_the_fallback_only(config):
    config["tuning"]["expression_weight"] = [0.01, 1.0]
    config["tuning"]["margin"] = [0.1, 0.4]
    config["tuning"]["arcface_margin"] = [0.3, 0.6]
    study.check_study(config)  # equal grid budgets; the fallbacks (0.1 and 0.2) need not be grid points
    assert names(config, "tl_pdp") == ["tl_pdp__w0p01", "tl_pdp__w1"]
    assert study.trained_names(config, "tl_pdp") == ["tl_pdp__w0p01", "tl_pdp__w1", "tl_pdp__w0p1"]
    settings = study.selection_settings(config, "tl_pdp")
    assert [name for name, _ in settings["candidates"]] == ["tl_pdp__w0p01", "tl_pdp__w1"]  # ranked: the grid
    assert settings["default"] == "tl_pdp__w0p1" and settings["fallback"] == [
        "tl_pdp__w0p1",
        {"expression_weight": 0.1},
    ]
    assert study.run_method_spec(config, "tl_pdp__w0p1")["aux"] == {"pdp": 0.1}
    assert study.run_training_recipe(config, "tl__m0p2")["margin"] == 0.2
    config["tuning"]["expression_weight"] = [0.01, 0.1]
    assert "fallback" not in study.selection_settings(config, "tl_pdp")  # a grid point: no extra run


def test_differing_weights_of_a_combined_method_need_a_grid_per_loss(config):
    config["methods"]["tl_pdp_fbv"]["aux"] = {"pdp": 0.1, "fbv": 0.05}
    config["run_methods"] = ["tl_pdp_fbv"]
    with pytest.raises(study.ConfigError, match="give it a grid per loss"):
        study.check_study(config)


def test_planned_runs_are_candidates_and_selections_are_per_method_labels_and_fold(config):
    config["run_methods"] = ["tl_pdp"]
    runs = study.planned_runs(config)
    per_method = {run.method for run in runs}
    assert per_method == {"tl_pdp__w0p01", "tl_pdp__w0p1", "tl_pdp__w1", "tl__m0p1", "tl__m0p2", "tl__m0p4"}
    assert {run.label_source for run in runs if run.method.startswith("tl__")} == {"none"}
    selections = study.planned_selections(config)
    assert len(selections) == (2 + 1) * config["folds"] * config["repeats"]
    config["tuning"]["enabled"] = False
    assert {run.method for run in study.planned_runs(config)} == {"tl_pdp", "tl"}
    assert study.planned_selections(config) == []


def test_value_slugs_are_wildcard_safe():
    assert [grid.value_slug(v) for v in (0.1, 1.0, 1e-05, 0)] == ["0p1", "1", "1em05", "0"]
