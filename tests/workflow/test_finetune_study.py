"""The lfw_emotion fine-tune preset end to end on a dozen people: the chips are cut once beside dlib's descriptors,
the frozen levels' activations computed once, the untrained network scores dlib's descriptors (normalised) on the
same folds as the dlib reference, and the trained runs ship a trained epoch (min_epochs 1: on a dozen people dlib's
validation AUC is 1.0, so epoch 0, dlib itself, would otherwise win); changing a loss weight reruns nothing of the
caches, changing the chips reruns the activations.

Skipped when ../shared/datasets/lfw_emotion is absent."""

import os
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from snakemake_helpers import copy_first_people, planned_jobs, preset_study, snakemake

PEOPLE = 12
TINY = {  # laid over the preset: 2 folds of 12 people, 2 epochs of 3 batches (epoch 1 or 2 ships), manual labels
    "folds": 2,
    "repeats": 1,
    "development_fraction": 0,  # 12 people cannot spare a development partition
    "recipe_identities": "",  # nobody set aside: the preset's recipe record does not apply
    "val_fraction": 0.34,
    "epochs": 2,
    "label_sources": ["manual"],
    "run_methods": ["tl", "tl_pdp"],
    "references": ["untrained", "dlib"],
    "training": {"batches_per_epoch": 3, "batch_identities": 3, "learning_rate": 0.001, "min_epochs": 1},
    "evaluation": {"rank1_draws": 2},
    "labels": {"min_expression_images": 3},
}


@pytest.fixture(scope="module")
def finetune_study(lfw_emotion_root, tmp_path_factory):
    labels, _ = copy_first_people(lfw_emotion_root, tmp_path_factory.mktemp("lfw_emotion"), PEOPLE)
    workdir = tmp_path_factory.mktemp("finetune_study")
    config = preset_study(workdir, "lfw_emotion_finetune", labels, TINY)
    assert planned_jobs(workdir)["train_run"] == config["folds"]  # batch_heads: one job per fold unit
    snakemake(workdir, "--cores", "2")
    return workdir, config, workdir / "results" / config["experiment"]


def test_the_untrained_row_is_the_dlib_row_on_the_sphere_and_the_trained_runs_ship_trained_epochs(finetune_study):
    workdir, config, out = finetune_study
    runs = pd.read_csv(out / "tables" / "runs.csv", keep_default_na=False)
    assert (runs["status"] == "ok").all()
    assert set(runs.loc[runs["reference"], "method"]) == {"untrained", "dlib"}
    assert len(runs[~runs["reference"]]) == 2 * config["folds"]  # tl (no labels) and tl_pdp (manual)
    for fold in range(config["folds"]):
        where = f"repeat0/fold{fold}/seed0/embeddings.npz"
        dlib, untrained = (np.load(out / "references" / name / where) for name in ("dlib", "untrained"))
        assert dlib["image_id"].tolist() == untrained["image_id"].tolist() and len(dlib["image_id"]) > 10
        normalised = dlib["embeddings"] / np.linalg.norm(dlib["embeddings"], axis=1, keepdims=True)
        np.testing.assert_allclose(untrained["embeddings"], normalised, atol=2e-5)
        run = out / "runs" / "tl" / "none" / f"repeat0/fold{fold}/seed0"
        history = pd.read_csv(run / "history.csv")
        assert history["epoch"].tolist()[0] == 0 and history["epoch"].max() >= 1  # dlib is epoch 0, the start
        assert history.loc[history["shipped"], "epoch"].tolist() in ([1], [2])  # not dlib: min_epochs 1
        trained = np.load(run / "embeddings.npz")
        assert trained["image_id"].tolist() == untrained["image_id"].tolist()
        assert np.abs(trained["embeddings"] - untrained["embeddings"]).max() > 1e-3  # training moved the network
    trained_runs = runs[~runs["reference"]]
    assert (pd.to_numeric(trained_runs["best_epoch"]) >= 1).all() and set(trained_runs["method"]) == {"tl", "tl_pdp"}
    summary = pd.read_csv(out / "tables" / "summary.csv", keep_default_na=False)
    assert {"tl", "untrained", "dlib"} <= set(summary["method"])


def changed_study(workdir, **changes):
    """The study's config file with ``changes`` to its top-level keys, written beside it."""
    study = yaml.safe_load((workdir / "study.yaml").read_text())
    changed = workdir / f"changed_{'_'.join(sorted(changes))}.yaml"
    changed.write_text(yaml.safe_dump({**study, **changes}))
    return changed


def test_the_caches_are_made_once_and_a_loss_weight_reruns_none_of_them(finetune_study):
    workdir, config, out = finetune_study
    chips = np.load(out / "features" / "dlib_chips.npz")
    manifest = pd.read_csv(out / "faces" / "manifest.csv", keep_default_na=False)
    assert chips["image_id"].tolist() == manifest.loc[manifest["status"] == "ok", "image_id"].tolist()
    assert sorted(chips["skipped_id"].tolist()) == sorted(manifest.loc[manifest["status"] != "ok", "image_id"])
    assert (out / "features" / "dlib_resnet_level0.npz").is_file() and (out / "features" / "dlib.npz").is_file()
    reweighted = {"tl_pdp": {"primary": "triplet", "geometry": "spherical", "aux": {"pdp": 0.2}}}
    jobs = planned_jobs(workdir, config=changed_study(workdir, methods=reweighted))
    assert jobs.get("train_run") == config["folds"]
    assert not {"dlib_activations", "extract_dlib_features_and_chips", "extract_features"} & set(jobs)
    whole_network = changed_study(workdir, training={**config["training"], "finetune": "all"})
    whole = planned_jobs(workdir, config=whole_network)  # reads the chips: no new cache
    assert whole.get("train_run") == config["folds"] and "dlib_activations" not in whole
    chips_file = out / "features" / "dlib_chips.npz"
    later = time.time() + 60
    os.utime(chips_file, (later, later))  # the chips changed: their activations are stale
    assert planned_jobs(workdir).get("dlib_activations") == 1
