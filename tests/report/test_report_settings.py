"""The report's settings: built once from the aggregate rule's params, refused with the offending name."""

from __future__ import annotations

import dataclasses

import pytest

from emoverify.report.settings import ReportSettings

PARAMS = {
    "baselines": {"tl": None, "tl_pdp": "tl"},
    "run_methods": ["tl", "tl_pdp"],
    "references": ["pixels"],
    "starts": {"tl": "untrained", "tl_pdp": "untrained"},
    "pca_methods": [],
    "pca_max_identities": 12,
    "exclude_same_session": True,
    "dataset": "csv",
    "data_root": "data/lfw_emotion/labels.csv",
}


def test_settings_from_the_rule_params_name_the_dataset_and_order_the_methods():
    settings = ReportSettings.from_params(PARAMS, test_share=0.25)
    assert settings.dataset == "lfw_emotion/labels.csv (csv)"
    assert settings.order == ("pixels", "tl", "tl_pdp")
    assert (settings.test_share, settings.pca_max_identities, settings.pca_methods) == (0.25, 12, ())
    assert settings.starts == {"tl": "untrained", "tl_pdp": "untrained"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.test_share = 0.5


def test_an_unknown_param_is_named():
    with pytest.raises(ValueError, match="do not know pca_colours"):
        ReportSettings.from_params({**PARAMS, "pca_colours": 3}, test_share=0.0)


def test_a_missing_param_is_named():
    params = {key: value for key, value in PARAMS.items() if key != "references"}
    with pytest.raises(ValueError, match="lack references"):
        ReportSettings.from_params(params, test_share=0.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("pca_max_identities", 0),
        ("pca_max_identities", True),
        ("exclude_same_session", "yes"),
        ("run_methods", "tl"),
        ("baselines", ["tl"]),
        ("starts", ["untrained"]),
        ("starts", {"tl": 3}),
    ],
)
def test_a_bad_value_is_refused_with_its_name(name, value):
    with pytest.raises(ValueError, match=f"report {name} "):
        ReportSettings.from_params({**PARAMS, name: value}, test_share=0.0)


def test_a_bad_test_share_is_refused():
    with pytest.raises(ValueError, match="test_share"):
        ReportSettings.from_params(PARAMS, test_share=float("nan"))
