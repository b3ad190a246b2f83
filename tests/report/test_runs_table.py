"""The runs table gathered from hand-made metrics.json files."""

from __future__ import annotations

import math

import pytest
from report_runs import write_run, write_study

from emoverify.layout import reference_run
from emoverify.report import comparisons, runs_table
from emoverify.report.runs_table import SummaryInputError


@pytest.fixture
def study(tmp_path):
    """tl (no labels) and tl_fbv (manual) on 4 folds, plus one missing and one broken run."""
    return write_study(tmp_path)


def test_collect_runs_reports_missing_and_unreadable_files(study):
    runs = runs_table.collect_runs(study)
    assert len(runs) == 10
    ok = runs[runs["status"] == "ok"]
    assert len(ok) == 8
    missing = runs[runs["status"] != "ok"].set_index("fold")
    assert missing.loc[0, "status"].startswith("missing: no metrics.json")
    assert missing.loc[1, "status"].startswith("missing: unreadable metrics.json")
    # identity of an unreadable run comes from its path
    assert set(missing["method"]) == {"tl_fbv"} and set(missing["labels"]) == {"detected"}
    assert missing["auc"].isna().all()
    assert ok.loc[ok["method"] == "tl_fbv", "notes"].eq("a note").all()


def test_collect_runs_reads_null_as_nan_and_failed_status_as_missing(tmp_path):
    nulls = write_run(tmp_path, "af", "none", 0, 0, {"auc": None, "rank1": 0.5})
    failed = write_run(tmp_path, "af", "none", 1, 0, {}, status="failed: CUDA out of memory")
    runs = runs_table.collect_runs([nulls, failed]).set_index("fold")
    assert math.isnan(runs.loc[0, "auc"]) and runs.loc[0, "rank1"] == 0.5
    assert runs.loc[1, "status"] == "missing: failed: CUDA out of memory"


@pytest.mark.parametrize("reference", ["pixels", "untrained", "dlib"])
def test_collect_runs_reads_reference_paths(tmp_path, reference):
    path = tmp_path / reference_run(reference, 2, 1, repeat=1).path / "metrics.json"
    runs = runs_table.collect_runs([path])
    row = runs.iloc[0]
    assert (row["method"], row["labels"], row["repeat"], row["fold"], row["seed"]) == (reference, "none", 1, 2, 1)
    assert bool(row["reference"]) and row["status"].startswith("missing")


def test_duplicate_runs_are_rejected(tmp_path):
    path = write_run(tmp_path, "tl", "none", 0, 0, {"auc": 0.5})
    runs = runs_table.collect_runs([path, path, write_run(tmp_path, "tl_pdm", "manual", 0, 0, {"auc": 0.6})])
    with pytest.raises(SummaryInputError, match="several ok runs"):
        comparisons.significance(runs, {"tl_pdm": "tl"}, metrics=["auc"])
