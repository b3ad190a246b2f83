"""The grid checks on development people: each grid point against its matched baseline's configured candidate,
verification and manipulation measures alike, and the held-out share of inner folds."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emoverify import study
from emoverify.report import grid_points, runs_table
from emoverify.tuning import grid_check
from snakemake_helpers import TINY, copy_study, planned_jobs, snakemake, write_study_config

BASELINE = "tl__m0p2"
POINTS = ("tl_pdp__w0p1", "tl_pdp__w1")


def checks(tmp_path) -> pd.DataFrame:
    """grid_check.json records of two grid points and the baseline's configured candidate over three units,
    with two seeds each (the unit is the mean of its seeds)."""
    rng = np.random.default_rng(0)
    paths = []
    for method, labels in [(BASELINE, "none"), *((point, "manual") for point in POINTS)]:
        for fold in range(3):
            for seed in (0, 1):
                folder = tmp_path / "runs" / method / labels / "repeat0" / f"fold{fold}" / f"seed{seed}"
                folder.mkdir(parents=True)
                values = {"auc": float(rng.uniform(0.6, 0.9)), "pdp": float(rng.uniform(0.1, 2.0))}
                record = {"method": method, "labels": labels, "repeat": 0, "fold": fold, "seed": seed}
                (folder / "grid_check.json").write_text(json.dumps({**record, "status": "ok", "metrics": values}))
                paths.append(folder / "grid_check.json")
    return runs_table.collect_runs(paths)


def unit_means(runs, method, metric):
    return runs[runs["method"] == method].groupby("fold")[metric].mean().to_numpy()


def test_every_grid_point_meets_the_same_baseline_runs_unit_by_unit(tmp_path):
    runs = checks(tmp_path)
    pairs = dict.fromkeys(POINTS, BASELINE)
    terms = dict.fromkeys(POINTS, ["pdp"])
    table = grid_points.grid_point_table(runs, pairs, terms, test_share=0.5)
    assert len(table) == 4 and set(table["point"]) == set(POINTS) and set(table["metric"]) == {"auc", "pdp"}
    assert set(table["method"]) == {"tl_pdp"} and set(table["settings"]) == {"w0p1", "w1"}
    for row in table.itertuples():
        ours, theirs = unit_means(runs, row.point, row.metric), unit_means(runs, BASELINE, row.metric)
        differences = ours - theirs
        assert row.baseline == BASELINE and row.labels == "manual" and row.baseline_labels == "none"
        assert row.n_units == 3 and row.mean_diff == pytest.approx(differences.mean())
        assert row.method_mean == pytest.approx(ours.mean()) and row.baseline_mean == pytest.approx(theirs.mean())
        scale = np.sqrt(1 / 3 + 0.5)  # the corrected resampled t of three units with held-out share 0.5
        t = differences.mean() / (differences.std(ddof=1) * scale)
        assert row.p == pytest.approx(2 * stats.t.sf(abs(t), df=2))
        assert row.own_term == (row.metric == "pdp") and row.holm_family == 2


def test_the_held_out_share_of_inner_folds_is_validation_over_training():
    folds = pd.DataFrame(
        {
            "image_id": [str(i) for i in range(9)],
            "identity": ["a", "a", "a", "b", "b", "b", "c", "c", "c"],
            "fold": 0,
            "repeat": 0,
            "split": ["train"] * 6 + ["val"] * 3,
        }
    )
    assert grid_check.held_out_share(folds) == pytest.approx(3 / 6)


def test_the_grid_checks_need_a_tuned_config():
    config = {"tuning": {"enabled": False}, "run_methods": ["tl_pdp"]}
    with pytest.raises(study.ConfigError, match="set tuning.enabled"):
        study.grid_point_baselines(config)


# 8 drawn people, 4 of them development people in 2 inner folds (2 train, 2 held out); relative weights
GRID = {
    **TINY,
    "development_fraction": 0.5,
    "development_seed": 1,
    "partition": "development",
    "run_methods": ["tl_pdp"],
    "label_sources": ["manual"],
    "references": [],
    "training": {**TINY["training"], "expression_weights": "relative", "calibration_batches": 2},
    "tuning": {"enabled": True, "expression_weight": [0.1, 1.0], "margin": [0.1, 0.2], "min_validation_identities": 2},
}


def test_the_grid_checks_report_verification_and_the_manipulation_check_per_point(tiny_upstream, tmp_path):
    workdir = copy_study(tiny_upstream, tmp_path)
    write_study_config(workdir / "study.yaml", GRID)
    jobs = planned_jobs(workdir, "grid_checks")
    # (2 weights + 2 margins, the configured 0.1 and 0.2 among them) x 2 folds; the upstream stages are made
    assert jobs["train_run"] == jobs["grid_check_run"] == 2 * 2 * 2
    assert not {"dataset", "detect_align", "extract_features"} & set(jobs)
    assert not {"evaluate_run", "aggregate", "select_candidate"} & set(jobs)
    snakemake(workdir, "--cores", "2", "grid_checks")
    out = workdir / "results" / "tiny"
    folds = pd.read_csv(out / "splits" / "folds.csv", keep_default_na=False)
    for path in out.glob("runs/**/grid_check.json"):
        text = path.read_text()
        assert "NaN" not in text and "Infinity" not in text, path  # strict JSON: a missing figure is null
        record = json.loads(text)
        assert record["status"] == "ok" and record["truth"] == "manual", path
        assert {"auc", "tar_at_far_1e-1", "pdp", "pdm", "probe_balanced_accuracy"} <= set(record["metrics"])
        if record["method"].startswith("tl_pdp"):  # the relative weighting's record: what was trained with
            training = record["training"]
            assert training["expression_weights"] == "relative" and training["relative_weight_pdp"] in (0.1, 1.0)
            assert training["weight_pdp"] == pytest.approx(
                training["relative_weight_pdp"] * training["grad_norm_triplet"] / training["grad_norm_pdp"]
            )
        unit = folds[(folds["fold"] == record["fold"]) & (folds["repeat"] == record["repeat"])]
        assert set(unit["split"]) == {"train", "val"}  # inner folds: nobody is tested
    table = pd.read_csv(out / "tables" / "grid_points.csv")
    assert set(table["point"]) == set(POINTS) and set(table["baseline"]) == {BASELINE}
    assert {"auc", "pdp", "probe_balanced_accuracy"} <= set(table["metric"])
    assert (table["n_units"] == 2).all()
    assert set(table.loc[table["own_term"], "metric"]) == {"pdp"}


def test_a_unit_job_of_head_runs_feeds_each_runs_grid_check(tiny_upstream, tmp_path):
    """With batch_heads one training job holds a fold unit's runs; each run's check still asks for its model."""
    workdir = copy_study(tiny_upstream, tmp_path)
    head = {**GRID["training"], "backbone": "head", "features": "dlib", "head_hidden": 16}
    write_study_config(workdir / "study.yaml", {**GRID, "batch_heads": True, "training": head})
    jobs = planned_jobs(workdir, "grid_checks")
    assert jobs["train_run"] == 2 and jobs["grid_check_run"] == 2 * 2 * 2  # a unit job per inner fold
