"""Shared fixtures (the real datasets beside the project, skipped when absent; a small demo; the tiny demo study,
built once per test run whatever the number of xdist workers) and the test tiers, marked from what each test
uses (docs/architecture.md, Tests)."""

from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
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
    "one_cluster_at_a_time": "slurm",
    # whole Snakemake studies of their own, each minutes on 2 cores (the shared tiny study is the default's smoke)
    "tuned_study": "slow",
    "jaffe_study": "slow",
    "changes_study": "slow",
    "finetune_study": "slow",
    "planned_by_the_command_line": "slow",
}
# Where the fixtures cannot tell: tests that start Snakemake (or a cluster) for more than a few seconds
# without a study fixture. Node ids without parameters.
TIER_OF_TEST = {
    "tests/hardening/test_bad_inputs.py::test_a_job_of_a_real_snakemake_dies_with_it": "slow",
    "tests/workflow/test_workflow.py::test_an_interrupted_training_is_redone_and_nothing_else": "slow",
    "tests/hardening/test_received_files.py::"
    "test_the_html_report_of_a_study_on_a_markup_named_folder_holds_no_planted_element": "slow",
    "tests/hardening/test_stale_stages.py::"
    "test_after_a_failed_faces_job_the_study_reruns_what_an_older_dataset_built": "slow",
    "tests/test_head_runs_benchmark.py::test_the_benchmark_times_import_torch_and_a_batched_unit_job": "slow",
}
TIERS = ("slow", "realdata", "slurm", "browser")


def fixtures_of(item: pytest.Item) -> tuple[str, ...]:
    """Every fixture a collected test uses, directly or through other fixtures."""
    return tuple(getattr(item, "fixturenames", ()))


def tiers_of(item: pytest.Item) -> set[str]:
    """The tiers a collected test belongs to: by its fixtures, then by the explicit list."""
    tiers = {TIER_OF_FIXTURE[name] for name in fixtures_of(item) if name in TIER_OF_FIXTURE}
    explicit = TIER_OF_TEST.get(item.nodeid.split("[")[0])
    return tiers | ({explicit} if explicit else set())


def pytest_collection_modifyitems(config, items):
    for item in items:
        for tier in sorted(tiers_of(item) - {mark.name for mark in item.iter_markers()}):
            item.add_marker(getattr(pytest.mark, tier))
    # The SLURM tests, then the tiny study's, first: pytest-xdist hands each worker a first batch of consecutive
    # tests (an eighth of the suite each with 2 workers), so one worker starts the cluster and builds the study
    # while the other runs unit tests, instead of both meeting them at the end and one waiting for the other.
    items.sort(key=lambda item: ("slurm" not in tiers_of(item), "tiny_upstream" not in fixtures_of(item)))


def session_folder(tmp_path_factory) -> Path:
    """The temporary folder every process of this pytest run shares (the xdist workers' parent folder)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def held_alone(lock_file: Path):
    """Hold ``lock_file`` against every other process of the run (another xdist worker waits here)."""
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def built_once(tmp_path_factory, name: str, build) -> Path:
    """``session_folder/name``, built by ``build(folder)`` in the first process of the run that asks for it;
    the others wait for it, and read it (or the first one's failure) when it is done."""
    root = session_folder(tmp_path_factory)
    folder, failed = root / name, root / f"{name}.failed"
    with held_alone(root / f"{name}.lock"):
        if failed.exists():
            pytest.fail(f"building {name} failed in another test process:\n{failed.read_text()}")
        if not (folder / ".built").exists():
            folder.mkdir(exist_ok=True)
            try:
                build(folder)
            except BaseException as error:
                failed.write_text(str(error))
                raise
            (folder / ".built").touch()
    return folder


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


@pytest.fixture
def defaults() -> dict:
    """config.yaml with the schema's defaults filled in (the bad-input tests' starting point)."""
    import yaml

    from emoverify.schema import fill_defaults

    loaded = yaml.safe_load((ROOT / "config.yaml").read_text())
    fill_defaults(loaded)
    return loaded


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A small demo dataset (3 identities x 7 expressions), generated once per test session."""
    from emoverify.data.demo import generate_demo

    root = tmp_path_factory.mktemp("small_demo")
    table = generate_demo(root, n_identities=3, images_per_expression=1, seed=0)
    return root, table


@pytest.fixture(scope="module")
def one_cluster_at_a_time(tmp_path_factory):
    """Held while a test module starts SLURM daemons of its own: one cluster at a time in the run (a test counts
    the daemons, and another process's cluster would be among them)."""
    with held_alone(session_folder(tmp_path_factory) / "slurm.lock"):
        yield


@pytest.fixture(scope="session")
def tiny_upstream(tmp_path_factory) -> Path:
    """The tiny demo study (snakemake_helpers.TINY) through its upstream stages, run once per test run: dataset,
    faces (MTCNN), labels (fer), dlib's descriptors, splits and the pixel cache. Read it, or copy it with
    ``copy_study`` before running or changing anything in it."""
    from snakemake_helpers import TINY, UPSTREAM_TARGETS, snakemake, write_study_config

    def build(workdir):
        write_study_config(workdir / "study.yaml", TINY)
        snakemake(workdir, "--cores", "2", *UPSTREAM_TARGETS)

    return built_once(tmp_path_factory, "tiny_upstream", build)


@pytest.fixture(scope="session")
def tiny_study(tiny_upstream, tmp_path_factory) -> Path:
    """The tiny demo study run to the end (its trainings, evaluations and report) on a copy of the shared
    upstream stages, once per test run. Read it, or copy it with ``copy_study`` to change anything."""
    from snakemake_helpers import copy_study, snakemake

    def build(workdir):
        copy_study(tiny_upstream, workdir)
        snakemake(workdir, "--cores", "2")

    return built_once(tmp_path_factory, "tiny_study", build)
