"""The second bad-input matrix, results folders: a study never presents tables of an older dataset. Every
stage records the dataset table it was built from; planning reruns a stale stage, a report of it stops."""

from pathlib import Path

import pandas as pd
import pytest
from hardening.studies import csv_study, write_csv_dataset

from emoverify.layout import Layout
from snakemake_helpers import planned_jobs, snakemake, write_study_config


def stage_outputs(root: Path) -> dict[str, str]:
    layout = Layout("hard")
    return {
        "detect_align": str(root / layout.manifest),
        "make_splits": str(root / layout.folds),
        "aggregate": str(root / layout.table_file("summary.csv")),
    }


def built(root: Path, table_text: str) -> dict[str, str]:
    """A results folder whose three stages were built from the table ``table_text``."""
    from emoverify import provenance

    outputs = stage_outputs(root)
    table = root / Layout("hard").table
    table.parent.mkdir(parents=True)
    table.write_text(table_text)
    for output in outputs.values():
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text("built\n")
        provenance.record(output, provenance.table_sha1(table))
    return outputs


def test_stages_built_from_an_older_table_are_removed_at_planning_so_they_rerun(tmp_path):
    from emoverify import provenance

    outputs = built(tmp_path, "path,identity\na.png,KA\n")
    table = tmp_path / Layout("hard").table
    assert provenance.plan_reruns(table, outputs, reporting=False) is None
    table.write_text("path,identity\na.png,KA\nb.png,KL\n")
    Path(outputs["detect_align"]).unlink()  # a failed faces job leaves no manifest, only its old record
    provenance.record(outputs["detect_align"], provenance.table_sha1(table))  # the faces rerun, then stopped
    note = provenance.plan_reruns(table, outputs, reporting=False)
    assert "make_splits (" in note and "aggregate (" in note and "detect_align" not in note
    assert [Path(output).exists() for output in outputs.values()] == [False, False, False]
    assert provenance.recorded(outputs["detect_align"]) == provenance.table_sha1(table)
    assert provenance.recorded(outputs["make_splits"]) is None


def test_a_report_of_stale_tables_stops_naming_the_stale_stage(tmp_path):
    from emoverify import provenance

    outputs = built(tmp_path, "path,identity\na.png,KA\n")
    table = tmp_path / Layout("hard").table
    table.write_text("path,identity\na.png,KA\nb.png,KL\n")
    with pytest.raises(provenance.StaleStageError, match=r"another dataset table .*: detect_align \(.*manifest"):
        provenance.plan_reruns(table, outputs, reporting=True)


def test_after_a_failed_faces_job_the_study_reruns_what_an_older_dataset_built(tmp_path):
    """Four people studied; a fifth added; the faces job fails (its manifest gone) and the cache is deleted.
    Snakemake used to say 'Nothing to be done' while the folds and summary held four people."""
    data = tmp_path / "data"
    people = ["KA", "KL", "KM", "KR", "KT", "KU", "KV", "KW"]
    write_csv_dataset(data, people)
    write_study_config(tmp_path / "study.yaml", csv_study(data / "labels.csv"))
    snakemake(tmp_path, "--cores", "2")
    write_csv_dataset(data, [*people, "KX"])
    layout = Layout("hard")
    snakemake(tmp_path, "--cores", "1", layout.table)
    assert pd.read_csv(tmp_path / layout.table)["identity"].nunique() == 9
    (tmp_path / layout.manifest).unlink()
    report = snakemake(tmp_path, "--report", "report.html", check=False)
    assert report.returncode != 0 and "Run the study (snakemake) before building its report" in report.stderr
    assert "detect_align (results/hard/faces/manifest.csv)" in report.stderr
    jobs = planned_jobs(tmp_path)
    assert jobs.get("detect_align") == 1 and jobs.get("make_splits") == 1 and jobs.get("aggregate") == 1
