"""Committed findings: the export of a finished study, and every three-decimal figure of docs/findings.md in a
committed table."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from emoverify import findings, mkl_vendor

ROOT = Path(__file__).resolve().parents[1]
COMMAND = (
    "snakemake --cores 2 --configfile workflow/presets/jaffe.yaml --config data_root=/data/jaffe experiment=tiny "
    "epochs=3"
)


def finished(tmp_path, name="tiny"):
    tables = tmp_path / "results" / name / "tables"
    tables.mkdir(parents=True)
    pd.DataFrame({"method": ["tl", "tl_pdp"], "auc_mean": [0.81234, 0.7996]}).to_csv(
        tables / "summary.csv", index=False
    )
    pd.DataFrame({"method": ["tl_pdp"], "diff": [-0.0127]}).to_csv(tables / "significance.csv", index=False)
    pd.DataFrame({"labels": ["manual"], "pairs": [12]}).to_csv(tables / "pair_counts.csv", index=False)
    pd.DataFrame({"labels": ["manual"], "baseline_labels": ["shuffled"]}).to_csv(
        tables / "label_source_comparison.csv", index=False
    )
    (tables / "summary.md").write_text("not copied")
    return tmp_path / "results" / name


def test_export_copies_the_tables_the_merged_config_and_the_command(tmp_path):
    out = tmp_path / "docs" / "studies" / "tiny"
    copied = findings.export(finished(tmp_path), out, COMMAND)
    assert copied == ["summary.csv", "significance.csv", "label_source_comparison.csv", "pair_counts.csv"]
    assert sorted(p.name for p in (out / "tables").iterdir()) == sorted(copied)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["experiment"] == "tiny" and config["dataset"] == "jaffe" and config["epochs"] == 3  # override
    assert config["val_fraction"] == 0.25 and config["training"]["batch_identities"] == 4  # the preset's
    assert config["development_fraction"] == 0 and config["partition"] == "study"  # the schema's defaults
    assert (out / "command.txt").read_text() == COMMAND + "\n"
    machine = yaml.safe_load((out / "machine.yaml").read_text())  # the CPU whose MKL path a rerun takes
    assert machine["cpu_vendor"] == mkl_vendor.this_machine()["cpu_vendor"] and machine["source"]


def test_export_refuses_another_experiments_command_or_an_unfinished_study(tmp_path):
    with pytest.raises(findings.FindingsError, match="runs experiment 'tiny', but the results are 'other'"):
        findings.export(finished(tmp_path, "other"), tmp_path / "out", COMMAND)
    (tmp_path / "results" / "empty" / "tables").mkdir(parents=True)
    with pytest.raises(findings.FindingsError, match="no tables/summary.csv"):
        findings.export(tmp_path / "results" / "empty", tmp_path / "out", COMMAND)
    with pytest.raises(findings.FindingsError, match="unknown config key 'epocs'"):
        findings.export(finished(tmp_path, "third"), tmp_path / "out", COMMAND + " epocs=3 experiment=third")


def test_a_figure_is_checked_against_the_cell_it_names(tmp_path):
    findings.export(finished(tmp_path), tmp_path / "studies" / "tiny", COMMAND)
    page = tmp_path / "findings.md"
    right = (
        "tl reached 0.812<!-- tiny/summary.csv: method=tl; auc_mean --> AUC, tl_pdp 0.800<!-- tiny/summary.csv: "
        "method=tl_pdp; auc_mean --> (difference -0.013<!-- tiny/significance.csv: method=tl_pdp; diff -->); the "
        "best 0.812<!-- tiny/summary.csv: method=tl|tl_pdp; auc_mean; max --> and the worst 0.800<!-- "
        "tiny/summary.csv: method!=tl; auc_mean; min -->."
    )
    page.write_text(right)
    assert findings.misquoted_figures(page, tmp_path / "studies") == []
    assert findings.main(["check", str(page), str(tmp_path / "studies")]) == 0
    # tl_pdp's figure put in tl's cell: it is in the table, but not in the cell the sentence names
    page.write_text(
        right.replace("0.800<!-- tiny/summary.csv: method=tl_pdp;", "0.800<!-- tiny/summary.csv: method=tl;")
    )
    assert findings.misquoted_figures(page, tmp_path / "studies") == [
        "line 1: 0.800, but tiny/summary.csv [method=tl; auc_mean] holds 0.812"
    ]
    assert findings.main(["check", str(page), str(tmp_path / "studies")]) == 1


@pytest.mark.parametrize(
    ("quote", "problem"),
    [
        ("0.812 AUC", "0.812 names no cell"),
        ("0.812<!-- tiny/summary.csv: auc_mean -->", "is 'key=value, ...; column'"),
        ("0.812<!-- tiny/summary.csv: method=tl; auc_max -->", "has no column 'auc_max'"),
        ("0.812<!-- tiny/summary.csv: method=af; auc_mean -->", "no row with a number in auc_mean matches 'method=af'"),
        ("0.812<!-- tiny/summary.csv: method=tl|tl_pdp; auc_mean -->", "2 rows match 'method=tl|tl_pdp'"),
        ("0.812<!-- tiny/verdict.csv: method=tl; auc_mean -->", "verdict.csv does not exist"),
        ("0.812<!-- tiny/summary.csv: method tl; auc_mean -->", "'method tl' is not key=value"),
    ],
)
def test_a_figure_without_a_readable_cell_is_reported(tmp_path, quote, problem):
    findings.export(finished(tmp_path), tmp_path / "studies" / "tiny", COMMAND)
    page = tmp_path / "findings.md"
    page.write_text(f"tl reached {quote}.")
    (reported,) = findings.misquoted_figures(page, tmp_path / "studies")
    assert reported.startswith("line 1: 0.812") and problem in reported


def test_every_three_decimal_figure_of_the_findings_page_is_the_cell_it_names():
    page = ROOT / "docs" / "findings.md"
    assert page.is_file()
    assert findings.misquoted_figures(page, ROOT / "docs" / "studies") == []
