"""A demo study with a development partition: its people train, validate, test and count nowhere, and the
partition's own inner folds hold them alone. On a copy of the session's tiny study's upstream stages: setting the
partition reruns the label agreement and the folds there, and everything after them."""

import json

import numpy as np
import pandas as pd

from emoverify.splits.folds import DEVELOPMENT, development_identities
from snakemake_helpers import TINY, copy_study, planned_jobs, snakemake, write_study_config

# 8 drawn people: 4 set aside, 2 folds of the other 4 (2 test, 2 training people each)
DEVELOPED = {**TINY, "development_fraction": 0.5, "development_seed": 1, "folds": 2}
DEVELOPED["references"] = ["pixels"]


def test_development_people_reach_no_run_no_embedding_and_no_table(tiny_upstream, tmp_path):
    workdir = copy_study(tiny_upstream, tmp_path)
    write_study_config(workdir / "study.yaml", DEVELOPED)
    upstream = planned_jobs(workdir)
    assert upstream["label_agreement"] == upstream["make_splits"] == 1  # the partition changes what they count
    assert not {"generate_demo", "dataset", "detect_align", "detect_expressions", "extract_features"} & set(upstream)
    snakemake(workdir, "--cores", "2")
    out = workdir / "results" / "tiny"
    folds = pd.read_csv(out / "splits" / "folds.csv", keep_default_na=False)
    development = set(folds.loc[folds["split"] == DEVELOPMENT, "identity"])
    assert len(development) == 4
    used = set(folds.loc[folds["split"].isin(["train", "val", "test"]), "identity"])
    assert used and not used & development
    for embeddings in out.glob("runs/**/embeddings.npz"):  # what every run and reference was scored on
        assert not set(np.load(embeddings)["identity"].astype(str)) & development, embeddings
    for labels in out.glob("runs/**/training_labels.csv"):  # what every loss read
        assert not set(pd.read_csv(labels, keep_default_na=False)["identity"].astype(str)) & development
    manifest = pd.read_csv(out / "faces" / "manifest.csv", keep_default_na=False)
    counted = json.loads((out / "labels" / "agreement.json").read_text())["n_manual_labelled"]
    outside = manifest[(manifest["status"] == "ok") & ~manifest["identity"].isin(development)]
    assert counted == int((outside["emotion_manual"] != "").sum())
    for table in (out / "tables").glob("*.csv"):
        text = table.read_text()
        assert not any(f",{person}," in text for person in development), table
    # the inner folds of the development partition: its people alone, target train (nothing scored)
    inner = write_study_config(tmp_path / "inner.yaml", DEVELOPED, experiment="inner", partition="development")
    jobs = planned_jobs(workdir, "train", config=inner)
    assert jobs["train_run"] == 2 * 3 and not {"evaluate_run", "aggregate"} & set(jobs)


def test_a_study_whose_partition_is_not_its_recipes_stops_at_the_splits_naming_who_differs(tiny_upstream, tmp_path):
    """The recipe's record (recipe_identities) holds one person this study does not set aside, and lacks one it
    does: the splits job stops naming both; the matching record lets it through."""
    workdir = copy_study(tiny_upstream, tmp_path / "study", stages=("dataset", "faces", "labels"))
    manifest = pd.read_csv(workdir / "results" / "tiny" / "faces" / "manifest.csv", keep_default_na=False)
    drawn = development_identities(manifest, fraction=0.5, seed=1, draw="hash")
    outside = sorted(set(manifest.loc[manifest["status"] == "ok", "identity"].astype(str)) - set(drawn))
    record = tmp_path / "identities.csv"
    pd.DataFrame({"identity": [*drawn[1:], outside[0]]}).to_csv(record, index=False)
    hashed = {**DEVELOPED, "development_partition": "hash", "recipe_identities": str(record)}
    write_study_config(workdir / "study.yaml", hashed)
    stopped = snakemake(workdir, "--cores", "1", "splits", check=False)
    assert stopped.returncode != 0
    log = (workdir / "results" / "tiny" / "logs" / "splits.log").read_text()
    assert f"In the recipe, not in this study (1): {outside[0]}." in log
    assert f"In this study, not in the recipe (1): {drawn[0]}." in log
    pd.DataFrame({"identity": drawn}).to_csv(record, index=False)
    snakemake(workdir, "--cores", "1", "splits")
    folds = pd.read_csv(workdir / "results" / "tiny" / "splits" / "folds.csv", keep_default_na=False)
    assert sorted(set(folds.loc[folds["split"] == DEVELOPMENT, "identity"].astype(str))) == drawn
