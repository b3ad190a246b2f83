"""Keeps Snakemake's local scheduling loop from spinning on a long study.

Snakemake 9 caps job submissions per timespan (``--max-jobs-per-timespan``, default 100/1s). To re-check the
cap, every pass of its scheduling loop arms a timer that wakes the loop one timespan later, and every finished
job adds a pass, hence one more timer that re-arms itself for the rest of the run: after n finished jobs the
loop wakes about n times a second, and each wake-up reads the input sizes of every ready job again. On a few
cores with hundreds of trainings ready, the main Snakemake process grows to take a large share of a core
from the training jobs (docs/performance.md). The cap guards a cluster's queue; a local run has nothing to
guard, so it runs without it (the loop then wakes when a job ends, as before Snakemake 8.17). A cluster run
keeps the cap.
"""

from __future__ import annotations

NOTICE = "emoverify: local run without Snakemake's job-rate timer (emoverify/scheduling.py says why)"


def drop_local_rate_limit(workflow) -> bool:
    """Turn the submission cap off for a local run; True when it was on and is now off.

    ``workflow`` is Snakemake's Workflow object, asked from an ``onstart`` handler (its scheduler exists by then,
    and has not chosen a job yet)."""
    scheduler = getattr(workflow, "scheduler", None)
    if not workflow.local_exec or getattr(scheduler, "job_rate_limiter", None) is None:
        return False
    scheduler.job_rate_limiter = None
    return True
