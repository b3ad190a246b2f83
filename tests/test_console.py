"""make demo's console (Snakemake's logger plugin ``emoverify``, snakemake_logger_plugin_emoverify): one line
per finished job, errors in full, the complete log untouched."""

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_logger_plugin_emoverify import OneLinePerJob, job_description

ROOT = Path(__file__).resolve().parents[1]


def record(message=None, level=logging.INFO, **extra):
    made = logging.LogRecord("snakemake", level, __file__, 1, message, None, None)
    made.__dict__.update(extra)
    return made


def shown(console, *records):
    return [line for made in records for line in console.lines(made, lambda r: r.getMessage() or "")]


def test_a_finished_job_is_one_line_with_its_rule_wildcards_and_count():
    console = OneLinePerJob(clock=lambda: "12:00:00")
    wildcards = {"method": "tl", "label_source": "none", "fold": 0}
    lines = shown(
        console,
        record("Select jobs to execute..."),
        record("Execute 2 jobs..."),
        record(" Rule: train_run", event=LogEvent.JOB_INFO, jobid=7, rule_name="train_run", wildcards=wildcards),
        record(" Rule: dataset", event=LogEvent.JOB_INFO, jobid=3, rule_name="dataset", wildcards={}),
        record("Shell command: x", event=LogEvent.SHELLCMD),
        record("Finished jobid: 3", event=LogEvent.JOB_FINISHED, job_id=3),
        record(None, event=LogEvent.PROGRESS, done=1, total=75),
        record("Finished jobid: 7", event=LogEvent.JOB_FINISHED, job_id=7),
        record(None, event=LogEvent.PROGRESS, done=2, total=75),
    )
    assert lines == [
        "[12:00:00] 1 of 75 done: dataset",
        "[12:00:00] 2 of 75 done: train_run method=tl label_source=none fold=0",
    ]
    assert console.descriptions == {}  # nothing kept once shown


def test_errors_warnings_and_other_messages_are_shown_in_full_and_scheduling_chatter_is_not():
    console = OneLinePerJob()
    lines = shown(
        console,
        record("Building DAG of jobs..."),
        record("Provided cores: 2"),
        record("Job stats: ...", event=LogEvent.RUN_INFO),
        record("SNAKEMAKE", event=LogEvent.WORKFLOW_STARTED),
        record("Error in rule train_run:\n    jobid: 7", level=logging.ERROR, event=LogEvent.JOB_ERROR),
        record("a warning", level=logging.WARNING),
        record("Nothing to be done (all requested files are present and up to date)."),
        record("debug detail", level=logging.DEBUG),
    )
    assert lines == [
        "Error in rule train_run:\n    jobid: 7",
        "a warning",
        "Nothing to be done (all requested files are present and up to date).",
    ]


def test_a_job_finished_without_its_description_is_named_by_its_id():
    console = OneLinePerJob(clock=lambda: "t")
    lines = shown(
        console,
        record("Finished", event=LogEvent.JOB_FINISHED, job_id=4),
        record(None, event=LogEvent.PROGRESS, done=1, total=1),
    )
    assert lines == ["[t] 1 of 1 done: job 4"] and job_description("all", None) == "all"


WORKFLOW = """
rule all:
    input: expand("out/{n}.txt", n=[1, 2])

rule make:
    output: "out/{n}.txt"
    shell: "echo {wildcards.n} > {output}"
"""


def test_snakemake_finds_the_plugin_and_keeps_every_job_description_in_its_log(tmp_path):
    (tmp_path / "Snakefile").write_text(textwrap.dedent(WORKFLOW))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--logger", "emoverify"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "workflow"), os.environ.get("PYTHONPATH", "")])},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    console = [line for line in result.stderr.splitlines() if line.strip()]
    done = [line for line in console if " done: " in line]
    assert sorted(line.split("done: ")[1] for line in done) == ["all", "make n=1", "make n=2"]
    assert not any(line.strip().startswith(("output:", "wildcards:", "Select jobs")) for line in console)
    (log,) = (tmp_path / ".snakemake" / "log").glob("*.snakemake.log")
    assert log.read_text().count("output: out/") == 2  # the full job descriptions stay in the log
