"""The tiny demo study through a real SLURM (tests/slurm/start.sh: a one-node cluster on localhost) with
workflow/profiles/slurm and snakemake-executor-plugin-slurm; skipped, saying why, where SLURM cannot start.
The daemons start.sh started (and only those) are stopped when the tests end."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from emoverify import scheduling
from snakemake_helpers import ROOT, TINY, snakemake, write_study_config

START = ROOT / "tests" / "slurm" / "start.sh"
THREADED_RULES = ("train_run", "evaluate_run", "detect_align", "detect_expressions")


DAEMONS = ("munged", "slurmctld", "slurmd")


def started_daemons(report: str) -> dict[str, int]:
    """start.sh's stdout: the daemons it started, by name, with their process ids."""
    return {name: int(pid) for name, pid in re.findall(r"^started (\S+) (\d+)$", report, re.M)}


def running(name: str, pid: int) -> bool:
    """Whether process ``pid`` runs and is ``name`` (a reused pid runs something else; a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    command, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]
    return command == name[:15] and state != "Z"


def stop_daemons(started: dict[str, int], wait: float = 30.0) -> list[str]:
    """Stop the daemons ``started`` names (SIGTERM, then SIGKILL after ``wait`` s); returns those still running."""
    for stop in (signal.SIGTERM, signal.SIGKILL):
        for name, pid in started.items():
            if running(name, pid):
                os.kill(pid, stop)
        deadline = time.monotonic() + wait
        while any(running(name, pid) for name, pid in started.items()) and time.monotonic() < deadline:
            time.sleep(0.2)
    return [name for name, pid in started.items() if running(name, pid)]


def running_pids(name: str) -> list[int]:
    """The processes of program ``name``, zombies (ended, not yet reaped) left out."""
    listed = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in listed if running(name, int(pid))]


def start_cluster() -> tuple[subprocess.CompletedProcess | None, dict[str, int]]:
    try:
        done = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as error:
        # the daemons it had started by then are in its partial output
        return None, started_daemons(error.stdout.decode() if isinstance(error.stdout, bytes) else error.stdout or "")
    return done, started_daemons(done.stdout)


def skip_reason(done: subprocess.CompletedProcess | None) -> str | None:
    if done is None:
        return "SLURM could not start: start.sh ran past 15 minutes"
    if done.returncode:
        return f"SLURM could not start: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
    return None


@pytest.fixture(scope="module")
def slurm(one_cluster_at_a_time):
    done, started = start_cluster()
    reason = skip_reason(done)
    if reason:
        stop_daemons(started)
        pytest.skip(reason)
    yield started
    left = stop_daemons(started)
    assert not left, f"the daemons the tests started still run after teardown: {left}"


def test_stopping_ends_the_started_processes_and_leaves_the_others():
    """stop_daemons on two processes of one program: the one named as started ends, the other runs on."""
    before = subprocess.Popen(["sleep", "300"])  # stands for a daemon that ran before the tests
    ours = subprocess.Popen(["sleep", "300"])
    try:
        assert started_daemons(f"started sleep {ours.pid}\nnoise\n") == {"sleep": ours.pid}
        assert stop_daemons({"sleep": ours.pid}, wait=5) == []
        assert ours.wait(timeout=5) == -signal.SIGTERM and before.poll() is None
        assert not running("sleep", ours.pid) and running("sleep", before.pid)
        assert not running("slurmd", before.pid)  # a pid running another program is not the daemon
    finally:
        before.kill()
        ours.kill()
        before.wait()
        ours.wait()


def test_a_started_cluster_stops_completely(one_cluster_at_a_time):
    """start.sh, then the fixture's teardown: none of the daemons it started runs, those that ran before still do."""
    before = {name: running_pids(name) for name in DAEMONS}
    done, started = start_cluster()
    left = stop_daemons(started)
    reason = skip_reason(done)
    if reason:
        pytest.skip(reason)
    assert set(started) == {name for name in DAEMONS if not before[name]}
    assert not left and not any(running(name, pid) for name, pid in started.items())
    for name, pids in before.items():
        assert running_pids(name) == pids, f"{name}: {pids} ran before the tests, {running_pids(name)} run after"


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
