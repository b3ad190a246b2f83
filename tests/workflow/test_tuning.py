"""End-to-end tuning on a tiny demo study: candidates train, selection reads validation figures only, the
report keeps the winners, and a grid change reruns only what it touches."""

import json
import os

import pandas as pd
import pytest

from emoverify.layout import Layout, Run
from snakemake_helpers import TINY, finished_study, planned_jobs, snakemake, write_study_config

TUNED = {
    **TINY,
    "experiment": "tuned",
    "demo": {**TINY["demo"], "n_identities": 12},
    "val_fraction": 0.5,
    "run_methods": ["tl_pdp"],
    "label_sources": ["manual"],
    "references": ["pixels"],
    "tuning": {"enabled": True, "expression_weight": [0.0, 0.1], "margin": [0.2, 0.4], "min_validation_identities": 2},
}
LAYOUT = Layout("tuned")
UNITS = [("tl_pdp", "manual", fold) for fold in (0, 1)] + [("tl", "none", fold) for fold in (0, 1)]


def write_config(path, **changes):
    return write_study_config(path, TUNED, **changes)


@pytest.fixture(scope="module")
def tuned_study(tmp_path_factory):
    return finished_study(tmp_path_factory.mktemp("tuned_study"), TUNED)


def selection(workdir, method, labels, fold):
    return json.loads((workdir / LAYOUT.selection(method, labels, 0, fold)).read_text())


def test_selection_asks_for_trainings_and_never_for_an_evaluation(tmp_path):
    write_config(tmp_path / "study.yaml")
    jobs = planned_jobs(tmp_path, LAYOUT.selection("tl_pdp", "manual", 0, 0))
    assert jobs["train_run"] == 2 and jobs["select_candidate"] == 1
    assert not {"evaluate_run", "evaluate_reference", "aggregate"} & set(jobs)


def test_the_report_keeps_each_units_winner_under_its_method(tuned_study):
    out = tuned_study / "results" / "tuned"
    for method, labels, fold in UNITS:
        record = selection(tuned_study, method, labels, fold)
        assert record["tuned"] and record["validation_identities"] >= 2
        assert record["winner"] in {c["name"] for c in record["candidates"]}
        assert all(c["status"] == "ok" and 0 <= c["validation"] <= 1 for c in record["candidates"])
    runs = pd.read_csv(out / "tables" / "runs.csv", keep_default_na=False)
    trained = runs[~runs["reference"]]
    assert set(trained["method"]) == {"tl_pdp", "tl"} and len(trained) == 4
    for _, row in trained.iterrows():
        assert row["candidate"] == selection(tuned_study, row["method"], row["labels"], row["fold"])["winner"]
        assert float(row["best_epoch"]) == 1 and row["validation_figure"] in ("tar_at_far_1e-2", "auc")
    summary = pd.read_csv(out / "tables" / "summary.csv")
    assert set(summary["method"]) == {"pixels", "tl", "tl_pdp"}
    candidates = pd.read_csv(out / "tables" / "candidates.csv")
    assert len(candidates) == 8 and candidates.groupby(["method", "fold"])["selected"].sum().eq(1).all()
    assert candidates["test_tar_at_far_1e-2"].notna().all() or candidates["test_auc"].notna().all()
    assert (out / "figures" / "sensitivity.png").stat().st_size > 10_000


def test_a_changed_test_metric_changes_no_selection(tuned_study):
    record = selection(tuned_study, "tl_pdp", "manual", 0)
    loser = next(c["name"] for c in record["candidates"] if c["name"] != record["winner"])
    metrics_path = tuned_study / LAYOUT.run_file(Run(loser, "manual", 0, 0), "metrics.json")
    metrics = json.loads(metrics_path.read_text())
    metrics["metrics"] = {key: 1.0 if isinstance(value, float) else value for key, value in metrics["metrics"].items()}
    metrics_path.write_text(json.dumps(metrics))
    jobs = planned_jobs(tuned_study)
    assert "select_candidate" not in jobs and jobs["aggregate"] == 1
    before = {unit: selection(tuned_study, *unit) for unit in UNITS}
    snakemake(tuned_study, "--cores", "1", "--forcerun", "select_candidate", "aggregate")
    assert {unit: selection(tuned_study, *unit) for unit in UNITS} == before
    runs = pd.read_csv(tuned_study / "results" / "tuned" / "tables" / "runs.csv", keep_default_na=False)
    assert loser not in set(runs["candidate"]) or runs.loc[runs["candidate"] == loser, "fold"].ne(0).all()


def test_a_grid_change_reruns_only_the_new_candidates_their_selections_and_the_report(tuned_study):
    grids = {"expression_weight": [0.0, 0.1, 1.0], "margin": [0.2, 0.3, 0.4]}
    wider = write_config(tuned_study / "wider.yaml", tuning={**TUNED["tuning"], **grids})
    jobs = planned_jobs(tuned_study, config=wider)
    assert jobs == {
        "train_run": 4,
        "evaluate_run": 4,
        "select_candidate": 4,
        "pair_counts": 1,
        "aggregate": 1,
        "manipulation": 1,
        "tuning_report": 1,
        "all": 1,
    }


def test_tuning_off_plans_the_plain_methods(tuned_study):
    plain = write_config(tuned_study / "plain.yaml", tuning={"enabled": False})
    jobs = planned_jobs(tuned_study, config=plain)
    assert "select_candidate" not in jobs and jobs["train_run"] == 4
    assert os.path.isdir(tuned_study / "results" / "tuned" / "selection")
