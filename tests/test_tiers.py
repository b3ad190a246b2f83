"""The test tiers: conftest marks every test from the fixtures it uses (and a short list where they cannot tell),
`make test` leaves the marked tiers out, and the SLURM tests and those of the shared tiny study come first."""

import os
import re
import subprocess
import sys

import pytest
from conftest import TIER_OF_TEST, TIERS

from snakemake_helpers import ROOT

# printed at the end of collection, in the order the tests run: every test's node id and its tiers (read back
# from the markers the hook set), then whether it uses the shared tiny study
SHOW_TIERS = """
def pytest_collection_finish(session):
    for item in session.items:
        marks = sorted({mark.name for mark in item.iter_markers()} & {"slow", "realdata", "slurm", "browser"})
        print("TIERS", item.nodeid, ",".join(marks) or "-", "tiny" if "tiny_upstream" in item.fixturenames else "-")
"""
# tests written as a newcomer would: no marker, only the fixtures they need
NEW_TESTS = """
def test_reads_jaffe(jaffe_root):
    pass

def test_reads_a_copied_real_face(real_face):
    pass

def test_opens_the_report(chromium):
    pass

def test_reads_the_finished_tiny_study(tiny_study):
    pass

def test_needs_nothing(tmp_path):
    pass
"""
NEW_FIXTURES = """
import pytest

@pytest.fixture
def real_face(ckplus48_root, tmp_path):
    return tmp_path
"""
REAL_TESTS = [
    "tests/data/test_adapters.py::test_jaffe",
    "tests/labels/test_classifier.py::test_labels_step_on_real_faces_in_its_own_process",
    "tests/workflow/test_tuning.py",
    "tests/workflow/test_workflow.py::test_report_opens_on_the_verdict_in_a_real_browser",
    "tests/workflow/test_workflow.py::test_nothing_to_do_when_nothing_changed",
    "tests/slurm/test_slurm.py",
]


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> list[tuple[str, str, str]]:
    """(test, tiers, "tiny" where it uses the shared tiny study) of the new tests above and of a few of the
    suite's, in the order pytest runs them with the suite's conftest ("-" where none); a new test is named by
    its function alone."""
    folder = tmp_path_factory.mktemp("new_tests")
    (folder / "show_tiers.py").write_text(SHOW_TIERS)
    (folder / "conftest_new.py").write_text(NEW_FIXTURES)
    (folder / "test_new.py").write_text(NEW_TESTS)
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "conftest", "-p", "show_tiers"]
    command += ["-p", "conftest_new", "--rootdir", str(ROOT), str(folder / "test_new.py"), *REAL_TESTS]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(folder), os.environ["PYTHONPATH"]])}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = re.findall(r"^TIERS (\S+) (\S+) (\S+)$", done.stdout, re.M)
    return [(test if test.startswith("tests/") else test.split("::")[-1], tiers, tiny) for test, tiers, tiny in rows]


def test_a_new_test_lands_in_the_tier_of_the_fixtures_it_uses(collected):
    tiers = {test: tiers for test, tiers, _ in collected}
    assert tiers["test_reads_jaffe"] == "realdata"
    assert tiers["test_reads_a_copied_real_face"] == "realdata"  # through another fixture
    assert tiers["test_opens_the_report"] == "browser"
    assert tiers["test_reads_the_finished_tiny_study"] == "-"  # the default tier's smoke study
    assert tiers["test_needs_nothing"] == "-"


def test_the_suites_own_tests_are_marked_where_they_belong(collected):
    tiers = {test: tiers for test, tiers, _ in collected}
    assert tiers["tests/data/test_adapters.py::test_jaffe"] == "realdata"
    assert tiers["tests/labels/test_classifier.py::test_labels_step_on_real_faces_in_its_own_process"] == "realdata"
    assert tiers["tests/workflow/test_workflow.py::test_report_opens_on_the_verdict_in_a_real_browser"] == "browser"
    assert tiers["tests/workflow/test_workflow.py::test_nothing_to_do_when_nothing_changed"] == "-"
    assert tiers["tests/workflow/test_tuning.py::test_the_report_keeps_each_units_winner_under_its_method"] == "slow"
    # planned in process on an empty folder: seconds, so the default tier keeps it
    assert tiers["tests/workflow/test_tuning.py::test_selection_asks_for_trainings_and_never_for_an_evaluation"] == "-"
    slurm = {test.split("::")[-1]: tier for test, tier in tiers.items() if "test_slurm.py" in test}
    assert slurm == {
        "test_stopping_ends_the_started_processes_and_leaves_the_others": "-",
        "test_a_started_cluster_stops_completely": "slurm",  # the one-cluster lock
        "test_tiny_study_through_the_slurm_profile": "slurm",  # through the cluster fixture
    }


def test_the_slurm_tests_then_the_tiny_studys_run_first(collected):
    """xdist hands each worker a first batch of consecutive tests: the long ones at the front start at once."""
    order = ["slurm" if "slurm" in tiers else tiny for _, tiers, tiny in collected]
    slurm, tiny = order.count("slurm"), order.count("tiny")
    assert slurm == 2 and tiny == 3  # the browser test, nothing-to-do, and the new test reading the study
    assert order[:slurm] == ["slurm"] * slurm and order[slurm : slurm + tiny] == ["tiny"] * tiny


def test_the_explicit_list_names_existing_tests_and_tiers():
    for nodeid, tier in TIER_OF_TEST.items():
        path, name = nodeid.split("::")
        assert tier in TIERS and f"def {name}(" in (ROOT / path).read_text(), nodeid


def test_make_test_leaves_out_every_declared_tier():
    """make test deselects BEYOND_DEFAULT (its recipe: tests/test_docs.py), which names every tier pyproject
    declares."""
    beyond = re.search(r"^BEYOND_DEFAULT := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert set(beyond.split(" or ")) == set(TIERS)
    declared = re.findall(r'^  "(\w+): ', (ROOT / "pyproject.toml").read_text(), re.M)
    assert set(declared) == set(TIERS)
