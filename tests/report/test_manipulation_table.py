"""The manipulation table on hand-made runs: method minus matched baseline per label source, the corrected
resampled t-test and Holm, and each comparison's reading against its verification finding."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emoverify.report import manipulation, verdict

UNITS = [(repeat, fold) for repeat in range(2) for fold in range(3)]  # 6 fold units
TEST_SHARE = 0.25
OFFSET = {"pdm": -0.3, "pdp": -0.3, "fbv": 0.3, "ce": 0.0, "mtl": 0.0, "probe_balanced_accuracy": 0.05}


def value(method: str, labels: str, measure: str, repeat: int, fold: int, seed: int) -> float:
    """A hand-made figure: the baseline's varies by unit and seed; tl_pdm with manual labels moves pdm down
    by 0.3 (pdp too, fbv and the probe up), with a small unit-dependent wobble; with shuffled labels nothing."""
    base = 1.0 + 0.1 * fold + 0.05 * repeat + 0.01 * seed
    if method == "tl":
        return base
    wobble = 0.01 * ((3 * repeat + fold) % 4 - 1.5)
    shift = OFFSET[measure] if labels == "manual" else 0.0
    return base + shift + wobble * (shift != 0)


def write_runs(folder):
    paths = []
    for method, labels in (("tl", "none"), ("tl_pdm", "manual"), ("tl_pdm", "shuffled")):
        for repeat, fold in UNITS:
            for seed in (0, 1):
                measures = {m: value(method, labels, m, repeat, fold, seed) for m in manipulation.MEASURES}
                record = {"method": method, "labels": labels, "repeat": repeat, "fold": fold, "seed": seed}
                record.update(status="ok", truth="manual", metrics=measures)
                path = folder / f"{method}-{labels}-{repeat}-{fold}-{seed}.json"
                path.write_text(json.dumps(record))
                paths.append(path)
    failed = folder / "failed.json"
    record = {"method": "tl_pdm", "labels": "manual", "repeat": 9, "fold": 0, "seed": 0, "status": "failed: no pair"}
    failed.write_text(json.dumps({**record, "truth": "manual", "metrics": {}}))
    return [*paths, failed]


def verification_rows(finding: str, detectable: float = 0.04) -> pd.DataFrame:
    rows = [
        {"row": "comparison", "method": "tl_pdm", "labels": labels, "baseline": "tl", "difference": 0.01}
        | {"detectable_diff": detectable, "finding": finding}
        for labels in ("manual", "shuffled")
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def table(tmp_path):
    runs = manipulation.collect(write_runs(tmp_path))
    terms = {"tl_pdm": ["pdm"], "tl": []}
    return manipulation.manipulation_table(
        runs, {"tl_pdm": "tl", "tl": None}, terms, verification_rows("no difference detected"), TEST_SHARE
    )


def plain_holm(p_values):
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(p_values) - rank) * p_values[index])
        adjusted[index] = min(running, 1.0)
    return adjusted


def test_each_measure_is_method_minus_baseline_over_fold_units_with_the_corrected_t(table):
    assert set(table["metric"]) == set(manipulation.MEASURES)
    assert set(zip(table["method"], table["labels"])) == {("tl_pdm", "manual"), ("tl_pdm", "shuffled")}
    row = table[(table["labels"] == "manual") & (table["metric"] == "pdm")].iloc[0]
    differences = [
        np.mean([value("tl_pdm", "manual", "pdm", r, f, s) - value("tl", "none", "pdm", r, f, s) for s in (0, 1)])
        for r, f in UNITS
    ]
    mean, sd = np.mean(differences), np.std(differences, ddof=1)
    t = mean / (sd * math.sqrt(1 / len(UNITS) + TEST_SHARE))
    assert row["n_units"] == len(UNITS) and row["baseline"] == "tl" and row["baseline_labels"] == "none"
    assert row["mean_diff"] == pytest.approx(mean) and mean < -0.29 and row["sd_diff"] == pytest.approx(sd)
    assert row["p"] == pytest.approx(2 * stats.t.sf(abs(t), len(UNITS) - 1))
    assert row["truth"] == "manual"


def test_holm_runs_over_the_comparisons_of_one_measure_that_differ_from_their_baseline(table):
    for metric, rows in table.groupby("metric"):
        family = rows[rows["holm_family"].notna()]
        assert family["p_holm"].tolist() == pytest.approx(plain_holm(family["p"].tolist())), metric
        assert (family["holm_family"] == len(family)).all()
    # what moved nothing (shuffled labels; ce and mtl): equal to the baseline in every unit, outside the family
    identical = table[table["holm_family"].isna()]
    unmoved = {
        (labels, m) for labels in ("manual", "shuffled") for m in OFFSET if labels == "shuffled" or not OFFSET[m]
    }
    assert set(zip(identical["labels"], identical["metric"])) == unmoved and (identical["p_holm"] == 1).all()


def test_a_term_acted_where_its_own_term_is_lower_after_holm(table):
    own = table[table["own_term"]]
    assert set(own["metric"]) == {"pdm"}
    acted = table[table["acted"]]
    assert list(zip(acted["labels"], acted["metric"])) == [("manual", "pdm")]
    manual = table[table["labels"] == "manual"].set_index("metric")
    assert manual.loc["fbv", "p_holm"] < 0.05 and manual.loc["fbv", "mean_diff"] > 0  # moved up: not acted
    assert manual.loc["pdp", "p_holm"] < 0.05 and manual.loc["pdp", "mean_diff"] < 0  # another method's term
    readings = table.drop_duplicates(["labels"]).set_index("labels")["reading"]
    assert readings["manual"] == (
        "the term acted (pdm lower than the baseline's) and verification gained no more than 0.040 TAR at FAR 1e-2"
    )
    assert readings["shuffled"] == "the term did not act (no answer on verification)"
    assert (table.groupby(["method", "labels"])["reading"].nunique() == 1).all()


@pytest.mark.parametrize(
    ("finding", "expected"),
    [
        ("gain", "and verification changed (gain, +0.010 TAR at FAR 1e-2)"),
        ("below baseline", "and verification changed (below baseline, +0.010 TAR at FAR 1e-2)"),
        ("no difference detected", "and verification gained no more than 0.040 TAR at FAR 1e-2"),
        (verdict.SAME_AS_BASELINE, "but verification gave the baseline's TAR at FAR 1e-2 in every fold unit"),
        ("not tested", "; verification was not tested (TAR at FAR 1e-2)"),
    ],
)
def test_the_reading_follows_the_verification_finding(finding, expected):
    row = verification_rows(finding).iloc[0]
    acted = "the term acted (pdm lower than the baseline's)"
    assert verdict.manipulation_reading(["pdm"], row) == f"{acted} {expected}".replace(" ;", ";")
    assert verdict.manipulation_reading([], row) == "the term did not act (no answer on verification)"


def test_the_readings_page_names_each_comparison_once(table, tmp_path):
    manipulation.write(table, tmp_path / "manipulation.csv", tmp_path / "manipulation.rst")
    text = (tmp_path / "manipulation.rst").read_text()
    assert text.count("tl\\_pdm (manual labels): the term acted") == 1
    assert text.count("tl\\_pdm (shuffled labels): the term did not act") == 1
    assert "with the manual labels" in text
    assert len(pd.read_csv(tmp_path / "manipulation.csv")) == len(table)


def test_a_study_without_comparisons_gives_an_empty_table(tmp_path):
    runs = manipulation.collect(write_runs(tmp_path))
    empty = manipulation.manipulation_table(runs, {"tl": None}, {}, verification_rows("gain"), TEST_SHARE)
    assert empty.empty and list(empty.columns) == manipulation.COLUMNS
