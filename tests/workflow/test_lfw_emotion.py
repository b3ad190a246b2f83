"""The lfw_emotion presets on a tiny copy of the dataset: eight people, their labels.csv rows and images.

Skipped when ../shared/datasets/lfw_emotion is absent. The from-scratch preset is planned and run through its
dataset and faces stages; the pretrained preset (batch_heads) is planned, and run end to end at a tiny size.
"""

import pandas as pd
import pytest
import yaml

from snakemake_helpers import ROOT, copy_first_people, planned_jobs, preset_study, snakemake

PEOPLE = 8
PRESETS = ROOT / "workflow" / "presets"
TINY = {  # laid over a preset: 2 folds of 8 people, heads trained for 2 epochs
    "folds": 2,
    "repeats": 1,
    "development_fraction": 0,  # 8 people cannot spare the 4 a development partition needs
    "recipe_identities": "",  # nobody set aside: the preset's recipe record does not apply
    "val_fraction": 0.34,
    "epochs": 2,
    "run_methods": ["tl", "tl_pdp"],
    "training": {"batches_per_epoch": 2, "batch_identities": 3, "head_hidden": 16},
    "evaluation": {"rank1_draws": 2},
    "labels": {"min_expression_images": 3},  # 8 people's detected labels: no class holds the preset's 20
}


@pytest.fixture(scope="module")
def tiny_lfw(lfw_emotion_root, tmp_path_factory):
    return copy_first_people(lfw_emotion_root, tmp_path_factory.mktemp("lfw_emotion"), PEOPLE)


def study_config(workdir, preset: str, data_root, **changes):
    """The preset with TINY (and ``changes``) laid over it, one level deep, as the study.yaml of ``workdir``."""
    return preset_study(workdir, preset, data_root, {**TINY, **changes})


def test_the_from_scratch_preset_plans_and_aligns_every_face(tiny_lfw, tmp_path):
    labels, chosen = tiny_lfw
    config = study_config(tmp_path, "lfw_emotion", labels)
    jobs = planned_jobs(tmp_path)
    runs = (1 + len(config["label_sources"])) * config["folds"]  # tl once (no labels), tl_pdp per source
    assert jobs["train_run"] == jobs["evaluate_run"] == runs
    snakemake(tmp_path, "--cores", "2", "results/lfw_emotion/faces/manifest.csv")
    manifest = pd.read_csv(tmp_path / "results" / "lfw_emotion" / "faces" / "manifest.csv", keep_default_na=False)
    assert len(manifest) == len(chosen) and set(manifest["identity"]) == set(chosen["identity"])
    assert (manifest["status"] == "ok").mean() >= 0.9, manifest["status"].value_counts()
    assert sorted(manifest["emotion_manual"]) == sorted(chosen["emotion"])


def test_the_pretrained_preset_trains_each_fold_unit_in_one_job(tiny_lfw, tmp_path):
    labels, chosen = tiny_lfw
    config = study_config(tmp_path, "lfw_emotion_pretrained", labels)
    assert config["batch_heads"] and yaml.safe_load((PRESETS / "lfw_emotion_pretrained.yaml").read_text())["labels"]
    jobs = planned_jobs(tmp_path)
    assert jobs["train_run"] == jobs["evaluate_run"] == config["folds"]  # one job per fold unit
    snakemake(tmp_path, "--cores", "2")
    out = tmp_path / "results" / "lfw_emotion_pretrained"
    runs = pd.read_csv(out / "tables" / "runs.csv", keep_default_na=False)
    trained = runs[~runs["reference"]]
    members = 1 + len(config["label_sources"])
    assert len(trained) == members * config["folds"] and (trained["status"] == "ok").all()
    assert set(runs.loc[runs["reference"], "method"]) == {"pixels", "untrained", "dlib"}
    for fold in range(config["folds"]):
        log = (out / "logs" / "train" / f"heads_repeat0_fold{fold}.log").read_text()
        assert log.count("best epoch") == members  # every member trained in the unit's one job
    histories = list((out / "runs").glob("*/*/repeat0/fold*/seed0/history.csv"))
    assert len(histories) == len(trained)
    for path in histories:  # the untrained head is epoch 0 wherever the validation people give a figure to rank it
        history = pd.read_csv(path)
        assert (history["epoch"].iloc[0] == 0) == history.filter(like="val_").notna().any().any(), path
    assert any(pd.read_csv(path)["epoch"].iloc[0] == 0 for path in histories)
