"""labels.min_expression_images_on: training through the workflow: each run's fold unit counts the expressions on
its own training people, and runs.csv says which it made unknown."""

import pandas as pd

from emoverify.labels.sources import LabelSource
from emoverify.splits.fold_data import train_ids
from snakemake_helpers import TINY, copy_study, snakemake, write_study_config

# every person of the demo shows each expression once and a fold trains on two or three people: manual labels
# stay where two training faces of the expression are usable, detected ones where fer saw it twice there
COUNTED = {"min_expression_images": 2, "min_expression_images_on": "training"}


def test_each_run_counts_and_records_the_expressions_its_training_people_lack(tiny_upstream, tmp_path):
    workdir = copy_study(tiny_upstream, tmp_path)
    config = {**TINY, "run_methods": ["tl_pdp"], "references": [], "labels": {**TINY.get("labels", {}), **COUNTED}}
    write_study_config(workdir / "study.yaml", config)
    snakemake(workdir, "--cores", "2")
    out = workdir / "results" / "tiny"
    manifest = pd.read_csv(out / "faces" / "manifest.csv", keep_default_na=False)
    detected = pd.read_csv(out / "labels" / "detected.csv", keep_default_na=False)
    folds = pd.read_csv(out / "splits" / "folds.csv", keep_default_na=False)
    runs = pd.read_csv(out / "tables" / "runs.csv", keep_default_na=False)
    labelled = runs[(runs["labels"] != "none") & ~runs["reference"]].assign(rare=runs.get("rare_expressions", ""))
    assert len(labelled) == 2 * TINY["folds"] and (labelled["status"] == "ok").all()  # manual and detected, each fold
    made_unknown = []
    for row in labelled.itertuples():
        labels = {"confidence_threshold": 0.4, "shuffle_source": "manual", **COUNTED}
        source = LabelSource.from_config(labels, row.labels)
        training = train_ids(folds, int(row.repeat), int(row.fold))
        expected = source.rare_expressions(manifest, detected, training)
        assert row.rare == ", ".join(expected), row
        made_unknown += expected
        run = out / "runs" / "tl_pdp" / row.labels / f"repeat{row.repeat}" / f"fold{row.fold}" / "seed0"
        read = pd.read_csv(run / "training_labels.csv", keep_default_na=False)
        assert not set(read["label"]) & set(expected)  # no training label of an expression made unknown
    assert made_unknown  # some fold made some expression unknown: the check above compared something
