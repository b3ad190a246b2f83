"""CPU that Snakemake's own scheduling loop takes from the jobs, with and without its job-rate timer.

Usage (from the repository root):
    .venv/bin/python -m benchmarks.micro.scheduler_overhead [--jobs 240] [--cores 4] [--seconds 2]
        [--json PATH | --record]

Runs one scratch workflow twice: ``--jobs`` jobs that each sleep ``--seconds`` and share input files, on
``--cores`` cores, so that many jobs are ready while a few run (as in a tuned study: hundreds of trainings
ready, two running). First as Snakemake runs it by default (``--max-jobs-per-timespan 100/1s``: every finished
job leaves a timer that re-wakes the loop each second), then with ``emoverify.scheduling``'s onstart hook,
which this workflow's Snakefile does locally. Prints, for each, the wall time and the CPU seconds of the main
Snakemake process alone (its jobs are children and not counted), sampled every second: the last quarter of the
run shows the cost after most jobs have finished, when the timers are most numerous.

The sleeping jobs use no CPU, so the figures are the scheduler's; on a busy machine they are taken from the jobs.
Figures: wall seconds, CPU seconds and the last quarter's share of a core, by default and hooked, and their ratio.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks import record

SNAKEFILE = """
from emoverify import scheduling

N = int(config["jobs"])

rule all:
    input: expand("out/{{i}}.txt", i=range(N))

rule shared:
    output: "shared_a.txt", "shared_b.txt"
    shell: "touch {{output}}"

rule job:
    input: "shared_a.txt", "shared_b.txt"
    output: "out/{{i}}.txt"
    shell: "sleep {seconds}; touch {{output}}"

if config.get("hook"):
    onstart:
        scheduling.drop_local_rate_limit(workflow)
"""


def measure(folder: Path, jobs: int, cores: int, hook: bool) -> dict:
    """Wall seconds and the main process's CPU seconds: in all, and over the last quarter of the run."""
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--quiet", "progress"]
    command += ["--config", f"jobs={jobs}", f"hook={int(hook)}"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = psutil.Process(process.pid)
    samples = []  # (seconds since start, CPU seconds of the main process)
    while process.poll() is None:
        try:
            times = watched.cpu_times()
        except psutil.NoSuchProcess:
            break
        samples.append((time.perf_counter() - started, times.user + times.system))
        time.sleep(1)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"the scratch workflow failed (exit {process.returncode}) in {folder}")
    total = samples[-1][1]
    tail = [sample for sample in samples if sample[0] >= 0.75 * samples[-1][0]]
    tail_share = (tail[-1][1] - tail[0][1]) / max(tail[-1][0] - tail[0][0], 1e-9)
    return {"wall": wall, "cpu": total, "tail_share": tail_share}


def main() -> None:
    parser = record.parser(__doc__)
    parser.add_argument("--jobs", type=int, default=240)
    parser.add_argument("--cores", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(f"{args.jobs} jobs of {args.seconds:g} s sleep on {args.cores} cores, main Snakemake process only:")
    results = {}
    for hook in (False, True):
        with tempfile.TemporaryDirectory(prefix="scheduler_") as scratch:
            folder = Path(scratch)
            text = SNAKEFILE.format(seconds=args.seconds)
            (folder / "Snakefile").write_text(text)
            results[hook] = measure(folder, args.jobs, args.cores, hook)
        figures = results[hook]
        name = "without the job-rate timer" if hook else "Snakemake's default     "
        print(
            f"  {name}: {figures['wall']:6.1f} s wall, {figures['cpu']:5.1f} CPU-s "
            f"({figures['cpu'] / figures['wall']:.0%} of a core), last quarter {figures['tail_share']:.0%} of a core"
        )
    ratio = results[False]["cpu"] / max(results[True]["cpu"], 1e-9)
    print(f"scheduler CPU, default over hooked: {ratio:.1f} x")
    figures = {"jobs": args.jobs, "cores": args.cores, "job_sleep_s": args.seconds}
    for hook, label in ((False, "default"), (True, "hooked")):
        measured = results[hook]
        figures[f"{label}/wall_s"] = measured["wall"]
        figures[f"{label}/cpu_s"] = measured["cpu"]
        figures[f"{label}/last_quarter_core_share"] = measured["tail_share"]
    record.save(args, __spec__.name, {**figures, "cpu_ratio_default_over_hooked": ratio}, __doc__)


if __name__ == "__main__":
    main()
