"""Shared fixtures (the real datasets beside the project, skipped when absent; a small demo; the tiny demo study
built once per session) and the test tiers, marked from what each test uses (docs/architecture.md, Tests)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
# The processes tests start (Snakemake, benchmarks, scripts) import this checkout's library and benchmarks, as
# this process does (pyproject's pythonpath), even where the installed package is another checkout's.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "workflow"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
)
JAFFE_DIR = SHARED_DATASETS / "jaffe"
CKPLUS48_DIR = SHARED_DATASETS / "ck_plus48" / "CK+48"
LFW_EMOTION_DIR = SHARED_DATASETS / "lfw_emotion"

# The tiers beyond `make test` (pyproject's markers; `make test-all` runs them too). A test is marked by the
# fixtures it uses, directly or through other fixtures, so a new test that uses one lands in its tier unmarked.
TIER_OF_FIXTURE = {
    "jaffe_root": "realdata",
    "ckplus48_root": "realdata",
    "lfw_emotion_root": "realdata",
    "chromium": "browser",
    "slurm": "slurm",
    # whole Snakemake studies of their own, each minutes on 2 cores (the shared tiny study is the default's smoke)
    "tuned_study": "slow",
    "jaffe_study": "slow",
    "changes_study": "slow",
    "planned_by_the_command_line": "slow",
}
# Where the fixtures cannot tell: tests that start Snakemake (or a cluster) for more than a few seconds
# without a study fixture. Node ids without parameters.
TIER_OF_TEST = {
    "tests/slurm/test_slurm.py::test_a_started_cluster_stops_completely": "slurm",
    "tests/hardening/test_bad_inputs.py::test_a_job_of_a_real_snakemake_dies_with_it": "slow",
    "tests/workflow/test_workflow.py::test_an_interrupted_training_is_redone_and_nothing_else": "slow",
    "tests/hardening/test_received_files.py::"
    "test_the_html_report_of_a_study_on_a_markup_named_folder_holds_no_planted_element": "slow",
    "tests/test_head_runs_benchmark.py::test_the_benchmark_times_import_torch_and_a_batched_unit_job": "slow",
}
TIERS = ("slow", "realdata", "slurm", "browser")
# Tests that share the session's tiny study run in one xdist worker (--dist loadgroup), which builds it once;
# the SLURM tests in one worker too (one counts the daemons that another's cluster starts).
TINY_STUDY_GROUP = "tiny_study"
SLURM_GROUP = "slurm"


def tiers_of(item: pytest.Item) -> set[str]:
    """The tiers a collected test belongs to: by its fixtures, then by the explicit list."""
    tiers = {TIER_OF_FIXTURE[name] for name in getattr(item, "fixturenames", ()) if name in TIER_OF_FIXTURE}
    explicit = TIER_OF_TEST.get(item.nodeid.split("[")[0])
    return tiers | ({explicit} if explicit else set())


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        for tier in sorted(tiers_of(item) - {mark.name for mark in item.iter_markers()}):
            item.add_marker(getattr(pytest.mark, tier))
        groups = {mark.args[0] for mark in item.iter_markers("xdist_group") if mark.args}
        if "tiny_upstream" in getattr(item, "fixturenames", ()) and TINY_STUDY_GROUP not in groups:
            item.add_marker(pytest.mark.xdist_group(TINY_STUDY_GROUP))
        if "slurm" in tiers_of(item) and SLURM_GROUP not in groups:
            item.add_marker(pytest.mark.xdist_group(SLURM_GROUP))


def require_dataset(path: Path) -> Path:
    """Return ``path`` or skip the test when that real dataset is not available."""
    if not path.is_dir():
        pytest.skip(f"{path} absent (real datasets live in ../shared/datasets)")
    return path


# session-wide, so that module fixtures can build on them
@pytest.fixture(scope="session")
def jaffe_root() -> Path:
    """The JAFFE folder (213 TIFFs named like KA.AN1.39.tiff)."""
    return require_dataset(JAFFE_DIR)


@pytest.fixture(scope="session")
def ckplus48_root() -> Path:
    """The CK+48 folder (<emotion>/S010_004_00000017.png)."""
    return require_dataset(CKPLUS48_DIR)


@pytest.fixture(scope="session")
def lfw_emotion_root() -> Path:
    """The lfw_emotion folder (labels.csv and its images)."""
    return require_dataset(LFW_EMOTION_DIR)


@pytest.fixture
def chromium() -> str:
    """A headless-capable Chromium on PATH, or the test is skipped."""
    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if found is None:
        pytest.skip("no chromium in PATH (apt-get install chromium)")
    return found


@pytest.fixture
def planned_by_the_command_line():
    """``planned_jobs`` through Snakemake's command line, in a process of its own (seconds a plan; the in-process
    ``snakemake_helpers.planned_jobs`` is checked against it)."""
    from snakemake_helpers import planned_jobs_cli

    return planned_jobs_cli


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A small demo dataset (3 identities x 7 expressions), generated once per test session."""
    from emoverify.data.demo import generate_demo

    root = tmp_path_factory.mktemp("small_demo")
    table = generate_demo(root, n_identities=3, images_per_expression=1, seed=0)
    return root, table


@pytest.fixture(scope="session")
def tiny_upstream(tmp_path_factory) -> Path:
    """The tiny demo study (snakemake_helpers.TINY) through its upstream stages, run once per session: dataset,
    faces (MTCNN), labels (fer), dlib's descriptors, splits and the pixel cache. Read it, or copy it with
    ``copy_study`` before running or changing anything in it."""
    from snakemake_helpers import TINY, UPSTREAM_TARGETS, snakemake, write_study_config

    workdir = tmp_path_factory.mktemp("tiny_upstream")
    write_study_config(workdir / "study.yaml", TINY)
    snakemake(workdir, "--cores", "2", *UPSTREAM_TARGETS)
    return workdir


@pytest.fixture(scope="session")
def tiny_study(tiny_upstream, tmp_path_factory) -> Path:
    """The tiny demo study run to the end (its trainings, evaluations and report) on a copy of the shared
    upstream stages, once per session. Read it, or copy it with ``copy_study`` to change anything."""
    from snakemake_helpers import copy_study, snakemake

    workdir = copy_study(tiny_upstream, tmp_path_factory.mktemp("tiny_study"))
    snakemake(workdir, "--cores", "2")
    return workdir
