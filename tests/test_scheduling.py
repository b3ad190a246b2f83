"""A local run drops Snakemake's job-rate timer; a cluster run keeps it."""

from types import SimpleNamespace

from emoverify import scheduling


def workflow(local: bool, limiter):
    return SimpleNamespace(local_exec=local, scheduler=SimpleNamespace(job_rate_limiter=limiter))


def test_a_local_run_loses_the_limiter():
    run = workflow(local=True, limiter=object())
    assert scheduling.drop_local_rate_limit(run) is True
    assert run.scheduler.job_rate_limiter is None


def test_a_cluster_run_keeps_its_limiter():
    limiter = object()
    run = workflow(local=False, limiter=limiter)
    assert scheduling.drop_local_rate_limit(run) is False
    assert run.scheduler.job_rate_limiter is limiter


def test_nothing_to_drop_is_reported_as_such():
    assert scheduling.drop_local_rate_limit(workflow(local=True, limiter=None)) is False
    assert scheduling.drop_local_rate_limit(SimpleNamespace(local_exec=True)) is False
