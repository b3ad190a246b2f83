"""End-to-end on real faces: a tiny JAFFE study (MTCNN, fer, training, report) through Snakemake.

Skipped when ../shared/datasets/jaffe is absent. It works on a copy of one image per expression of six
people, so it also checks that adding a label source to a finished study adds only the new runs.
"""

import shutil
from collections import defaultdict

import pandas as pd
import pytest

from snakemake_helpers import TINY_JAFFE, planned_jobs, snakemake, write_study_config

PEOPLE = 6
EXPRESSIONS = 7


def copy_jaffe_subset(jaffe_root, target):
    """The first image of each expression of the first six people (KA.AN1.39.tiff -> person KA, AN)."""
    chosen = defaultdict(dict)
    for path in sorted(jaffe_root.glob("*.tiff")):
        person, expression = path.name.split(".")[:2]
        chosen[person].setdefault(expression[:2], path)
    target.mkdir()
    for person in sorted(chosen)[:PEOPLE]:
        assert len(chosen[person]) == EXPRESSIONS, f"{person} lacks an expression in JAFFE"
        for path in chosen[person].values():
            shutil.copy(path, target / path.name)
    return target


@pytest.fixture(scope="module")
def jaffe_study(jaffe_root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny_jaffe")
    data = copy_jaffe_subset(jaffe_root, workdir / "jaffe")
    write_study_config(workdir / "study.yaml", TINY_JAFFE, data_root=str(data))
    snakemake(workdir, "--cores", "2")
    return workdir


def test_every_jaffe_face_is_found_labelled_and_evaluated(jaffe_study):
    out = jaffe_study / "results" / "tiny_jaffe"
    manifest = pd.read_csv(out / "faces" / "manifest.csv", keep_default_na=False)
    assert len(manifest) == PEOPLE * EXPRESSIONS
    assert (manifest["status"] == "ok").all(), manifest.loc[manifest["status"] != "ok", ["image_id", "status"]]
    detected = pd.read_csv(out / "labels" / "detected.csv", keep_default_na=False)
    assert set(detected["image_id"]) == set(manifest["image_id"])
    summary = pd.read_csv(out / "tables" / "summary.csv")
    assert set(zip(summary["method"], summary["labels"])) == {
        ("pixels", "none"),
        ("untrained", "none"),
        ("dlib", "none"),
        ("tl", "none"),
        ("tl_pdp", "manual"),
    }
    assert (summary["n_runs"] == 2).all() and (summary["n_missing"] == 0).all()
    assert summary["auc_mean"].between(0, 1).all()
    assert summary.set_index("method").loc["dlib", "auc_mean"] > 0.9  # a real recognizer on real faces
    assert (out / "figures" / "pca.png").stat().st_size > 10_000


def test_adding_a_label_source_adds_only_its_runs(jaffe_study):
    config = write_study_config(
        jaffe_study / "both.yaml",
        TINY_JAFFE,
        data_root=str(jaffe_study / "jaffe"),
        label_sources=["manual", "detected"],
    )
    # tl uses no labels; tl_pdp gains its detected-label runs on 2 folds; faces, labels and splits stay
    planned = {"train_run": 2, "evaluate_run": 2, "pair_counts": 1, "aggregate": 1, "manipulation": 1, "all": 1}
    assert planned_jobs(jaffe_study, config=config) == planned
