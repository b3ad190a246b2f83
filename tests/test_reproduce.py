"""make reproduce: the comparison of regenerated tables with committed ones, and which commands run, without
running a study."""

import shlex
import sys
from pathlib import Path

import pandas as pd
import pytest

from emoverify import reproduce

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = pd.DataFrame(
    {
        "method": ["tl", "tl_pdp", "tl_pdp"],
        "labels": ["none", "manual", "shuffled"],
        "auc_mean": [0.9289693358786177, 0.95, float("nan")],
        "note": ["", "ok", "no pairs"],
    }
)


def tables(folder: Path, **named: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in named.items():
        table.to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_identical_tables_are_the_same(tmp_path):
    committed = tables(tmp_path / "committed", summary=SUMMARY)
    regenerated = tables(tmp_path / "regenerated", summary=SUMMARY.copy())
    assert reproduce.compare_tables(committed, regenerated) == []
    assert reproduce.describe([]) == "same"


def test_a_changed_cell_is_named_by_table_row_key_and_column_with_its_amount(tmp_path):
    changed = SUMMARY.copy()
    changed.loc[1, "auc_mean"] = 0.9513
    committed = tables(tmp_path / "committed", summary=SUMMARY)
    differences = reproduce.compare_tables(committed, tables(tmp_path / "regenerated", summary=changed))
    assert [(d.table, d.kind, d.row, d.column) for d in differences] == [
        ("summary.csv", "cell", "tl_pdp/manual", "auc_mean")
    ]
    assert differences[0].amount == pytest.approx(0.0013)
    line = reproduce.describe(differences)
    assert line.startswith("different: summary.csv: 1 cell")
    assert "summary.csv row tl_pdp/manual, column auc_mean: '0.95' -> '0.9513', by 0.0013" in line


def test_the_last_bit_of_a_float_is_a_difference_without_tolerance(tmp_path):
    changed = SUMMARY.copy()
    changed.loc[0, "auc_mean"] = 0.9289693358786178
    committed = tables(tmp_path / "committed", summary=SUMMARY)
    regenerated = tables(tmp_path / "regenerated", summary=changed)
    assert [d.column for d in reproduce.compare_tables(committed, regenerated)] == ["auc_mean"]


def test_a_tolerance_admits_smaller_differences_only(tmp_path):
    changed = SUMMARY.copy()
    changed.loc[0, "auc_mean"] += 4e-4
    changed.loc[1, "auc_mean"] += 6e-4
    committed = tables(tmp_path / "committed", summary=SUMMARY)
    regenerated = tables(tmp_path / "regenerated", summary=changed)
    differences = reproduce.compare_tables(committed, regenerated, tolerance=5e-4)
    assert [(d.row, d.column) for d in differences] == [("tl_pdp/manual", "auc_mean")]
    assert len(reproduce.compare_tables(committed, regenerated, tolerance=1e-3)) == 0


def test_text_and_missing_values_compare_as_written():
    assert reproduce.compare_cell("", "", 0.0) == (True, None)
    assert reproduce.compare_cell("nan", "NaN", 0.0) == (True, None)  # NaN equals NaN
    assert reproduce.compare_cell("0.5", "nan", 1.0) == (False, None)
    assert reproduce.compare_cell("ok", "no pairs", 1.0) == (False, None)
    assert reproduce.compare_cell("1.0", "1", 0.0) == (True, 0.0)  # the same number written two ways
    assert reproduce.compare_cell("True", "False", 1.0) == (False, None)


def test_a_missing_table_row_or_column_is_named(tmp_path):
    committed = tables(tmp_path / "committed", summary=SUMMARY, verdict=pd.DataFrame({"row": ["a"], "x": [1]}))
    fewer = SUMMARY.drop(index=2).drop(columns="note")
    differences = reproduce.compare_tables(committed, tables(tmp_path / "regenerated", summary=fewer))
    found = {(d.table, d.kind, d.row or d.column) for d in differences}
    assert found == {
        ("summary.csv", "missing column", "note"),
        ("summary.csv", "missing row", "tl_pdp/shuffled"),
        ("verdict.csv", "missing table", ""),
    }
    line = reproduce.describe(differences)
    assert "verdict.csv missing" in line and "summary.csv: 1 missing column, 1 missing row" in line


def test_rows_without_a_telling_key_are_matched_by_position(tmp_path):
    committed = tables(tmp_path / "committed", agreement=pd.DataFrame({"accuracy": [0.65, 0.7]}))
    regenerated = tables(tmp_path / "regenerated", agreement=pd.DataFrame({"accuracy": [0.65, 0.71]}))
    assert [(d.row, d.column) for d in reproduce.compare_tables(committed, regenerated)] == [("row 2", "accuracy")]


def committed_study(studies: Path, name: str, command: str, experiment: str) -> None:
    (studies / name).mkdir(parents=True)
    (studies / name / "command.txt").write_text(command + "\n")
    (studies / name / "config.yaml").write_text(f"experiment: {experiment}\n")


def test_one_study_plans_its_own_command_with_the_data_root_moved(tmp_path):
    committed_study(
        tmp_path,
        "jaffe",
        "snakemake --cores 2 --configfile workflow/presets/jaffe.yaml --config data_root=../shared/datasets/jaffe",
        "jaffe",
    )
    committed_study(
        tmp_path,
        "ck",
        "snakemake --cores 2 --config data_root=../shared/datasets/ck_plus48/CK+48 experiment=ck_tuned",
        "ck_tuned",
    )
    (tmp_path / "notes").mkdir()  # a folder without a command is no study
    assert reproduce.committed_studies(tmp_path) == ["ck", "jaffe"]
    (only,) = reproduce.plan(tmp_path, ["ck"], data_root="/data/sets/")
    assert only.argv == (
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        "--config",
        "data_root=/data/sets/ck_plus48/CK+48",
        "experiment=ck_tuned",
    )
    assert only.committed == tmp_path / "ck" / "tables"
    assert only.regenerated == Path("results/ck_tuned/tables")
    assert [study.name for study in reproduce.plan(tmp_path)] == ["ck", "jaffe"]
    default = reproduce.plan(tmp_path, ["jaffe"])[0].argv
    assert default[-1] == "data_root=../shared/datasets/jaffe"


def test_a_data_root_outside_the_default_is_kept():
    command = "snakemake --cores 2 --config data_root=/elsewhere/jaffe"
    assert reproduce.study_command(command, "/data")[-1] == "data_root=/elsewhere/jaffe"
    assert reproduce.study_command(command.replace("/elsewhere", "../shared/datasets-old"), "/d")[-1] == (
        "data_root=../shared/datasets-old/jaffe"
    )


def test_unknown_studies_and_incomplete_folders_are_refused(tmp_path):
    committed_study(tmp_path, "jaffe", "snakemake --cores 2", "jaffe")
    with pytest.raises(reproduce.ReproduceError, match="no committed study lfw.*known: jaffe"):
        reproduce.plan(tmp_path, ["lfw"])
    (tmp_path / "jaffe" / "config.yaml").unlink()
    with pytest.raises(reproduce.ReproduceError, match="no config.yaml"):
        reproduce.plan(tmp_path, ["jaffe"])
    with pytest.raises(reproduce.ReproduceError, match="does not start with snakemake"):
        reproduce.study_command("python -m something", "/d")


def test_the_command_line_plans_every_committed_study(capsys):
    assert reproduce.main(["--plan"]) == 0
    lines = capsys.readouterr().out.splitlines()
    committed = sorted(path.parent.name for path in (ROOT / "docs" / "studies").glob("*/command.txt"))
    assert [line.split(":")[0] for line in lines] == committed
    assert reproduce.main(["--plan", "--study", committed[0], "--data", "/data"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    command = (ROOT / "docs" / "studies" / committed[0] / "command.txt").read_text()
    expected = shlex.split(command.replace("../shared/datasets", "/data"))[1:]
    assert shlex.split(line.split(": ", 1)[1])[3:] == expected
    assert reproduce.main(["--plan", "--study", "no_such_study"]) == 2


def test_comparing_a_study_with_an_edited_table_fails_naming_the_cell(tmp_path):
    committed = tables(tmp_path / "docs" / "tables", summary=SUMMARY)
    edited = SUMMARY.copy()
    edited.loc[0, "auc_mean"] = 0.5
    regenerated = tables(tmp_path / "results" / "tables", summary=edited)
    study = reproduce.StudyPlan("tiny", "tiny", ("snakemake",), committed, regenerated)
    same, line = reproduce.reproduce(study, 0.0, run=False, report_dir=tmp_path / "report")
    assert not same
    assert line.startswith("tiny: different: summary.csv: 1 cell") and "row tl/none, column auc_mean" in line
    listed = pd.read_csv(tmp_path / "report" / "tiny_differences.csv")
    assert listed[["table", "row", "column"]].values.tolist() == [["summary.csv", "tl/none", "auc_mean"]]
    assert reproduce.reproduce(study, 0.5, run=False, report_dir=tmp_path / "report") == (
        True,
        "tiny: same (compared only)",
    )


def test_durations_read_as_the_measurement_pages_write_them():
    assert [reproduce.duration(s) for s in (52.4, 250, 3 * 3600 + 125)] == ["52 s", "4 min 10 s", "3 h 2 min"]
