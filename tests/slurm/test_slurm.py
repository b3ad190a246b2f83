"""The tiny demo study through a real SLURM (tests/slurm/start.sh: a one-node cluster on localhost) with
workflow/profiles/slurm and snakemake-executor-plugin-slurm; skipped, saying why, where SLURM cannot start."""

import os
import subprocess

import pandas as pd
import pytest

from emoverify import scheduling
from snakemake_helpers import ROOT, TINY, snakemake, write_study_config

pytestmark = pytest.mark.slow
START = ROOT / "tests" / "slurm" / "start.sh"
THREADED_RULES = ("train_run", "evaluate_run", "detect_align", "detect_expressions")


@pytest.fixture(scope="module")
def slurm():
    try:
        done = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip("SLURM could not start: start.sh ran past 15 minutes")
    if done.returncode:
        pytest.skip(
            f"SLURM could not start: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
        )


def test_tiny_study_through_the_slurm_profile(slurm, tmp_path):
    write_study_config(tmp_path / "study.yaml", TINY)
    result = snakemake(
        tmp_path,
        "--workflow-profile",
        str(ROOT / "workflow" / "profiles" / "slurm"),
        # a CPU-only test cluster: no GPU request, and job states from squeue (no accounting database)
        "--set-resources",
        "train_run:gpu=0",
        "evaluate_run:gpu=0",
        # the profile asks for up to 8 threads per job; the test node has the cores of this machine
        "--set-threads",
        *[f"{rule}={min(2, os.cpu_count() or 1)}" for rule in THREADED_RULES],
        "--slurm-status-command",
        "squeue",
        "--jobs",
        "4",
        "--latency-wait",
        "5",
        "--slurm-keep-successful-logs",  # the plugin deletes a successful job's log otherwise
        timeout=1800,
    )
    assert "sbatch" in result.stdout + result.stderr or "SLURM" in result.stdout + result.stderr
    assert scheduling.NOTICE not in result.stderr  # a cluster's queue keeps its submission cap
    out = tmp_path / "results" / "tiny"
    summary = pd.read_csv(out / "tables" / "summary.csv")
    rows = set(zip(summary["method"], summary["labels"]))
    references = {(name, "none") for name in ("pixels", "untrained", "dlib")}
    assert rows == references | {("tl", "none"), ("tl_pdp", "manual"), ("tl_pdp", "detected")}
    assert (summary["n_runs"] == 2).all()
    # every job ran as a SLURM job: its log folder holds the jobs' SLURM logs
    slurm_logs = list((tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len(slurm_logs) >= 8 + 8 + 6 + 1, len(slurm_logs)  # trainings, evaluations, references, dlib features
