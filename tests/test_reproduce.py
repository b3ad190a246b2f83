"""make reproduce: the comparison of regenerated tables with committed ones, and which commands run, without
running a study."""

import os
import shlex
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

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


def test_a_tolerance_admits_smaller_differences_of_its_column_kind_only(tmp_path):
    changed = SUMMARY.copy()
    changed.loc[0, "auc_mean"] += 4e-4
    changed.loc[1, "auc_mean"] += 6e-4
    committed = tables(tmp_path / "committed", summary=SUMMARY)
    regenerated = tables(tmp_path / "regenerated", summary=changed)
    differences = reproduce.compare_tables(committed, regenerated, {"figure": 5e-4})
    assert [(d.row, d.column, d.admitted) for d in differences] == [
        ("tl/none", "auc_mean", True),
        ("tl_pdp/manual", "auc_mean", False),
    ]
    assert all(d.admitted for d in reproduce.compare_tables(committed, regenerated, {"figure": 1e-3}))
    assert not any(d.admitted for d in reproduce.compare_tables(committed, regenerated, {"p_value": 1.0}))
    line = reproduce.describe(reproduce.compare_tables(committed, regenerated, {"figure": 1e-3}))
    assert line.startswith("same within the tolerance: 2 cells differ, the largest summary.csv row tl_pdp/manual")


def test_columns_fall_into_the_kinds_a_tolerance_names():
    kinds = {
        column: reproduce.column_kind(column)
        for column in ("auc_mean", "threshold", "ci95_low", "p", "p_holm", "wilcoxon_p", "detectable_diff_holm")
        + ("n_test_images", "auc_n", "pairs_fbv", "pairs", "epochs_run", "best_epoch", "holm_family")
    }
    assert kinds == {
        "auc_mean": "figure",
        "threshold": "figure",
        "ci95_low": "figure",
        "p": "p_value",
        "p_holm": "p_value",
        "wilcoxon_p": "p_value",
        "detectable_diff_holm": "detectable",
        "n_test_images": "count",
        "auc_n": "count",
        "pairs_fbv": "count",
        "pairs": "count",
        "epochs_run": "count",
        "best_epoch": "count",
        "holm_family": "count",
    }
    assert reproduce.tolerances(["figure=1e-3", "p_value=0.05"]) == {
        "figure": 1e-3,
        "p_value": 0.05,
        "detectable": 0.0,
        "count": 0.0,
    }
    for wrong, said in (("auc=1", "KIND one of figure"), ("figure", "KIND=AMOUNT"), ("figure=x", "not a number")):
        with pytest.raises(reproduce.ReproduceError, match=said):
            reproduce.tolerances([wrong])
    with pytest.raises(reproduce.ReproduceError, match="at least 0"):
        reproduce.tolerances(["count=-1"])


def test_a_count_differing_by_an_epoch_is_no_figure():
    runs = pd.DataFrame({"method": ["tl"], "pairs_fbv": ["5120"], "auc": ["0.91"]})
    moved = pd.DataFrame({"method": ["tl"], "pairs_fbv": ["6516"], "auc": ["0.9101"]})
    (pairs, auc) = reproduce.compare_table("runs.csv", runs, moved, {"figure": 1e-3})
    assert (pairs.column, pairs.admitted, pairs.amount) == ("pairs_fbv", False, 1396)
    assert (auc.column, auc.admitted) == ("auc", True)


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


def committed_study(studies: Path, name: str, command: str, experiment: str, data_root: str, vendor=None) -> None:
    (studies / name).mkdir(parents=True)
    (studies / name / "command.txt").write_text(command + "\n")
    (studies / name / "config.yaml").write_text(f"experiment: {experiment}\ndata_root: {data_root}\n")
    if vendor:
        (studies / name / "machine.yaml").write_text(f"cpu_vendor: {vendor}\n")


def test_a_study_runs_from_its_committed_config_with_the_data_root_moved(tmp_path):
    committed_study(
        tmp_path,
        "jaffe",
        "snakemake --cores 2 --configfile workflow/presets/jaffe.yaml --config data_root=../shared/datasets/jaffe",
        "jaffe",
        "../shared/datasets/jaffe",
    )
    committed_study(
        tmp_path,
        "ck",
        "snakemake --cores 3 --configfile workflow/presets/ckplus48.yaml --config experiment=ck_tuned",
        "ck_tuned",
        "../shared/datasets/ck_plus48/CK+48",
        vendor="GenuineIntel",
    )
    (tmp_path / "notes").mkdir()  # a folder without a command is no study
    assert reproduce.committed_studies(tmp_path) == ["ck", "jaffe"]
    (only,) = reproduce.plan(tmp_path, ["ck"], data_root="/data/sets/")
    configfile = os.path.relpath(tmp_path / "ck" / "config.yaml", reproduce.ROOT)
    assert only.argv == (
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "3",  # the committed command's
        "--configfile",
        configfile,  # not the preset the command names
        "--config",
        "data_root=/data/sets/ck_plus48/CK+48",
    )
    assert only.documented.startswith("snakemake --cores 3 --configfile workflow/presets/ckplus48.yaml")
    assert only.cpu_vendor == "GenuineIntel"
    assert only.committed == tmp_path / "ck" / "tables"
    assert only.regenerated == Path("results/ck_tuned/tables")
    assert [study.name for study in reproduce.plan(tmp_path)] == ["ck", "jaffe"]
    default = reproduce.plan(tmp_path, ["jaffe"])[0]
    assert default.argv[-1] == "data_root=../shared/datasets/jaffe" and default.cpu_vendor is None


def test_a_data_root_outside_the_default_is_kept():
    assert reproduce.moved_data_root("/elsewhere/jaffe", "/data") == "/elsewhere/jaffe"
    assert reproduce.moved_data_root("../shared/datasets-old/jaffe", "/d") == "../shared/datasets-old/jaffe"
    assert reproduce.moved_data_root("../shared/datasets/jaffe", "/d/") == "/d/jaffe"


def test_the_cores_come_from_the_committed_command():
    assert reproduce.committed_cores("snakemake --cores 2 --configfile a.yaml") == "2"
    assert reproduce.committed_cores("snakemake --configfile a.yaml --cores=4") == "4"
    with pytest.raises(reproduce.ReproduceError, match="names no --cores"):
        reproduce.committed_cores("snakemake --configfile a.yaml")


def test_unknown_studies_and_incomplete_folders_are_refused(tmp_path):
    committed_study(tmp_path, "jaffe", "snakemake --cores 2", "jaffe", "../shared/datasets/jaffe")
    with pytest.raises(reproduce.ReproduceError, match="no committed study lfw.*known: jaffe"):
        reproduce.plan(tmp_path, ["lfw"])
    (tmp_path / "jaffe" / "config.yaml").write_text("experiment: jaffe\n")
    with pytest.raises(reproduce.ReproduceError, match="names no data_root"):
        reproduce.plan(tmp_path, ["jaffe"])
    (tmp_path / "jaffe" / "config.yaml").unlink()
    with pytest.raises(reproduce.ReproduceError, match="no config.yaml"):
        reproduce.plan(tmp_path, ["jaffe"])
    (tmp_path / "jaffe" / "config.yaml").write_text("experiment: jaffe\ndata_root: /d\n")
    (tmp_path / "jaffe" / "command.txt").write_text("python -m something\n")
    with pytest.raises(reproduce.ReproduceError, match="does not start with snakemake"):
        reproduce.plan(tmp_path, ["jaffe"])


def test_the_command_line_plans_every_committed_study_on_its_committed_config(capsys):
    assert reproduce.main(["--plan"]) == 0
    lines = capsys.readouterr().out.splitlines()
    committed = sorted(path.parent.name for path in (ROOT / "docs" / "studies").glob("*/command.txt"))
    assert [line.split(":")[0] for line in lines[::2]] == committed
    name = committed[0]
    assert reproduce.main(["--plan", "--study", name, "--data", "/data"]) == 0
    run, documented = capsys.readouterr().out.splitlines()
    folder = ROOT / "docs" / "studies" / name
    config = yaml.safe_load((folder / "config.yaml").read_text())
    data_root = config["data_root"].replace("../shared/datasets", "/data")
    assert shlex.split(run.split(": ", 1)[1])[3:] == [
        "--cores",
        "2",
        "--configfile",
        f"docs/studies/{name}/config.yaml",
        "--config",
        f"data_root={data_root}",
    ]
    assert documented == f"{name}: documented as: {(folder / 'command.txt').read_text().strip()}"
    assert reproduce.main(["--plan", "--study", "no_such_study"]) == 2
    assert reproduce.main(["--plan", "--tolerance", "auc=1"]) == 2


def test_every_committed_study_names_the_cpu_vendor_that_made_it():
    for folder in sorted((ROOT / "docs" / "studies").glob("*/command.txt")):
        record = yaml.safe_load((folder.parent / "machine.yaml").read_text())
        assert record["cpu_vendor"] in ("GenuineIntel", "AuthenticAMD") and record["source"], folder.parent.name


def test_comparing_a_study_with_an_edited_table_fails_naming_the_cell(tmp_path):
    committed = tables(tmp_path / "docs" / "tables", summary=SUMMARY)
    edited = SUMMARY.copy()
    edited.loc[0, "auc_mean"] = 0.5
    regenerated = tables(tmp_path / "results" / "tables", summary=edited)
    study = reproduce.StudyPlan("tiny", "tiny", ("snakemake",), committed, regenerated)
    same, line = reproduce.reproduce(study, run=False, report_dir=tmp_path / "report")
    assert not same
    assert line.startswith("tiny: different: summary.csv: 1 cell") and "row tl/none, column auc_mean" in line
    assert "largest difference 0.429" in line
    listed = pd.read_csv(tmp_path / "report" / "tiny_differences.csv")
    assert listed[["table", "row", "column", "admitted"]].values.tolist() == [
        ["summary.csv", "tl/none", "auc_mean", False]
    ]
    same, line = reproduce.reproduce(study, {"figure": 0.5}, run=False, report_dir=tmp_path / "report")
    assert same and line.startswith("tiny: same within the tolerance: 1 cells differ, the largest summary.csv")
    assert pd.read_csv(tmp_path / "report" / "tiny_differences.csv")["admitted"].tolist() == [True]
    assert reproduce.reproduce(study, {"p_value": 0.5}, run=False, report_dir=tmp_path / "report")[0] is False


def test_a_committed_study_table_edited_by_hand_fails_the_comparison_naming_its_cell(tmp_path):
    """The real committed tables against themselves: the same; with one cell of the committed copy changed by
    hand, different, naming that cell."""
    real = ROOT / "docs" / "studies" / "ckplus48_pretrained" / "tables"
    study = reproduce.StudyPlan("ck", "ck", ("snakemake",), tmp_path / "committed", real)
    shutil.copytree(real, tmp_path / "committed")
    assert reproduce.reproduce(study, run=False, report_dir=tmp_path / "report") == (True, "ck: same (compared only)")
    summary = reproduce.read_table(tmp_path / "committed" / "summary.csv")
    summary.loc[3, "tar_at_far_1e-2_mean"] = str(float(summary.loc[3, "tar_at_far_1e-2_mean"]) + 0.001)
    summary.to_csv(tmp_path / "committed" / "summary.csv", index=False)
    row = "/".join(summary.loc[3, [c for c in reproduce.KEY_COLUMNS if c in summary.columns]])
    same, line = reproduce.reproduce(study, run=False, report_dir=tmp_path / "report")
    assert line.startswith("ck: different: summary.csv: 1 cell (")
    assert f"summary.csv row {row}, column tar_at_far_1e-2_mean" in line


def test_durations_read_as_the_measurement_pages_write_them():
    assert [reproduce.duration(s) for s in (52.4, 250, 3 * 3600 + 125)] == ["52 s", "4 min 10 s", "3 h 2 min"]
