"""Shared fixtures: the real datasets beside the project (skipped when absent) and a small demo."""

from __future__ import annotations

import os
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


def require_dataset(path: Path) -> Path:
    """Return ``path`` or skip the test when that real dataset is not available."""
    if not path.is_dir():
        pytest.skip(f"{path} absent (real datasets live in ../shared/datasets)")
    return path


@pytest.fixture
def jaffe_root() -> Path:
    """The JAFFE folder (213 TIFFs named like KA.AN1.39.tiff)."""
    return require_dataset(JAFFE_DIR)


@pytest.fixture
def ckplus48_root() -> Path:
    """The CK+48 folder (<emotion>/S010_004_00000017.png)."""
    return require_dataset(CKPLUS48_DIR)


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """A small demo dataset (3 identities x 7 expressions), generated once per test session."""
    from emoverify.data.demo import generate_demo

    root = tmp_path_factory.mktemp("small_demo")
    table = generate_demo(root, n_identities=3, images_per_expression=1, seed=0)
    return root, table
