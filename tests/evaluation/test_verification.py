"""Scoring one run on its fold's unseen people, with the threshold from validation people."""

import pytest
from demo_runs import make_demo_sets


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    return make_demo_sets(tmp_path_factory)
