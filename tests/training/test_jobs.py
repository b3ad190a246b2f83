"""A job that holds several runs (batch_seeds) gives each run exactly what it gives when it runs alone."""

import io

import pandas as pd
import pytest
import torch
from demo_runs import EVALUATION, FBV, TRAINING, descriptor_sets, make_demo_sets

from emoverify.evaluation.jobs import evaluate_runs, evaluate_unit, output_pairs
from emoverify.labels.sources import LabelSource
from emoverify.layout import Run
from emoverify.training import jobs
from emoverify.training.fold import prepare_fold
from emoverify.training.sampler import forget_drawn_batches
from emoverify.training.settings import TrainingSettings
from emoverify.vocabulary import EXPRESSIONS


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    return make_demo_sets(tmp_path_factory)


def train(demo_sets, folder, seeds):
    folder.mkdir(parents=True, exist_ok=True)
    runs = [Run("tl_pdp_fbv", "manual", 0, seed) for seed in seeds]
    models = [str(folder / f"model{seed}.pt") for seed in seeds]
    histories = [str(folder / f"history{seed}.csv") for seed in seeds]
    jobs.train_runs(
        prepare_fold(demo_sets["train"], demo_sets["val"]),
        runs,
        jobs.run_outputs(models, histories),
        method=FBV,
        settings=TrainingSettings.from_recipe(TRAINING),
        job=jobs.JobSettings(2, torch.device("cpu"), io.StringIO()),
    )
    return runs, models, histories


def test_batched_seeds_equal_standalone_runs(demo_sets, tmp_path):
    runs, batched, batched_histories = train(demo_sets, tmp_path / "batched", [3, 0])
    for run, model, history in zip(runs, batched, batched_histories):
        _, alone, alone_histories = train(demo_sets, tmp_path / f"alone{run.seed}", [run.seed])
        one, other = torch.load(model, weights_only=True), torch.load(alone[0], weights_only=True)
        assert one["model_state"].keys() == other["model_state"].keys()
        for key in one["model_state"]:
            assert torch.equal(one["model_state"][key], other["model_state"][key]), key
        columns = [c for c in pd.read_csv(history).columns if c != "seconds"]
        pd.testing.assert_frame_equal(pd.read_csv(history)[columns], pd.read_csv(alone_histories[0])[columns])
    # and the two seeds of the batch differ (each run was seeded with its own seed)
    first, second = (torch.load(m, weights_only=True)["model_state"] for m in batched)
    assert any(not torch.equal(first[key], second[key]) for key in first)

    # evaluation: batched and standalone metrics files are identical
    outputs = output_pairs(
        [str(tmp_path / f"e{r.seed}.npz") for r in runs], [str(tmp_path / f"m{r.seed}.json") for r in runs]
    )
    faces = {"val": demo_sets["val"], "test": demo_sets["test"]}
    settings = dict(device=torch.device("cpu"), evaluation=EVALUATION)
    evaluate_runs(runs, batched, outputs, lambda size: faces, **settings)
    alone = output_pairs(str(tmp_path / "alone.npz"), str(tmp_path / "alone.json"))
    evaluate_runs(runs[1:], batched[1:], alone, lambda size: faces, **settings)
    assert (tmp_path / "alone.json").read_text() == (tmp_path / f"m{runs[1].seed}.json").read_text()


def test_paths_must_match_runs(demo_sets, tmp_path):
    fold = prepare_fold(demo_sets["train"], demo_sets["val"])
    job = jobs.JobSettings(1, torch.device("cpu"))
    with pytest.raises(ValueError, match="2 runs need as many outputs, got 1"):
        jobs.train_runs(
            fold, [Run("tl", "none", 0, 0)] * 2, jobs.run_outputs("a", "b"), method=FBV, settings=None, job=job
        )
    with pytest.raises(ValueError, match="2 model paths need as many history and training-label paths, got 2 and 1"):
        jobs.run_outputs(["a", "b"], ["c", "d"], ["e"])
    assert jobs.run_outputs("a", "b") == [jobs.RunOutputs("a", "b")]


HEAD = {**TRAINING, "backbone": "head", "features": "dlib", "head_hidden": 16, "embedding_dim": 128}
TL = {"primary": "triplet", "geometry": "spherical", "aux": {}}
TL_PDP = {"primary": "triplet", "geometry": "spherical", "aux": {"pdp": 0.1}}
# a fold unit's members: methods, label sources and seeds, one with its own training knob (a tuning candidate)
MEMBERS = [
    {"method": "tl", "label_source": "none", "seed": 0, "spec": TL, "training": HEAD},
    {"method": "tl_pdp", "label_source": "manual", "seed": 0, "spec": TL_PDP, "training": HEAD},
    {"method": "tl_pdp", "label_source": "shuffled", "seed": 1, "spec": TL_PDP, "training": HEAD},
    {"method": "tl__m0.4", "label_source": "none", "seed": 1, "spec": TL, "training": {**HEAD, "margin": 0.4}},
    {
        "method": "tl__fused",
        "label_source": "none",
        "seed": 2,
        "spec": TL,
        "training": {**HEAD, "optimizer": "adam_fused"},
    },
]


def head_faces(label_params, splits):
    """Descriptor face sets whose expressions depend on the label source (as the rule's loader gives them)."""
    sets = descriptor_sets()
    if label_params["name"] == "shuffled":
        for faces in sets.values():
            faces.expressions = faces.expressions[::-1].copy()
    return {split: sets[split] for split in splits}


def test_batched_head_runs_equal_standalone_runs_bit_for_bit(tmp_path):
    members = [{**m, "label_params": LabelSource(m["label_source"]).to_params()} for m in MEMBERS]
    loads = []

    def load(label_params, size, splits=("train", "val")):
        loads.append(label_params["name"])
        return head_faces(label_params, splits)

    job = jobs.JobSettings(3, torch.device("cpu"), io.StringIO())
    unit = tmp_path / "unit"
    unit.mkdir()
    files = {"m": "model.pt", "h": "history.csv", "e": "embeddings.npz", "j": "metrics.json", "l": "labels.csv"}
    paths = {key: [str(unit / f"{i}_{name}") for i in range(len(members))] for key, name in files.items()}
    jobs.train_unit(load, members, jobs.run_outputs(paths["m"], paths["h"], paths["l"]), repeat=1, fold=2, job=job)
    assert loads == ["none", "manual", "shuffled"]  # the fold loaded once per label source
    for member, labels_path in zip(members, paths["l"]):  # each run's training labels, from its own source
        written = pd.read_csv(labels_path, keep_default_na=False, dtype=str)
        expected = head_faces(member["label_params"], ("train",))["train"]
        assert written["image_id"].tolist() == [str(image) for image in expected.image_ids]
        names = ["" if code < 0 else EXPRESSIONS[code] for code in expected.expressions]
        assert written["label"].tolist() == names  # the shuffled member's labels are its own
    outputs = output_pairs(paths["e"], paths["j"])
    evaluation = dict(device=torch.device("cpu"), evaluation=EVALUATION)
    evaluate_unit(
        members,
        paths["m"],
        outputs,
        lambda label_params, size: head_faces(label_params, ("val", "test")),
        repeat=1,
        fold=2,
        **evaluation,
    )
    states = []
    forget_drawn_batches()  # each standalone run draws its own batches
    for i, member in enumerate(members):
        alone = tmp_path / f"alone{i}"
        alone.mkdir()
        run = Run(member["method"], member["label_source"], 2, member["seed"], repeat=1)
        faces = head_faces(member["label_params"], ("train", "val"))
        jobs.train_runs(
            prepare_fold(faces["train"], faces["val"]),
            [run],
            jobs.run_outputs(str(alone / "m"), str(alone / "h")),
            method=member["spec"],
            settings=TrainingSettings.from_recipe(member["training"]),
            job=job,
        )
        one, other = torch.load(paths["m"][i], weights_only=True), torch.load(alone / "m", weights_only=True)
        facts = [{key: value for key, value in state.items() if key != "model_state"} for state in (one, other)]
        assert facts[0] == facts[1] and facts[0]["repeat"] == 1 and facts[0]["method_name"] == member["method"]
        for key in one["model_state"]:
            assert torch.equal(one["model_state"][key], other["model_state"][key]), (member["method"], key)
        columns = [c for c in pd.read_csv(alone / "h").columns if c != "seconds"]
        pd.testing.assert_frame_equal(pd.read_csv(paths["h"][i])[columns], pd.read_csv(alone / "h")[columns])
        alone_out = output_pairs(str(alone / "e.npz"), str(alone / "j.json"))
        faces = head_faces(member["label_params"], ("val", "test"))
        evaluate_runs([run], [str(alone / "m")], alone_out, lambda size, faces=faces: faces, **evaluation)
        assert (alone / "j.json").read_text() == open(paths["j"][i]).read()
        states.append(one["model_state"])
    # the members differ (each trained its own method, labels and seed)
    assert len({tuple(s["backbone.residual.2.weight"].flatten()[:4].tolist()) for s in states}) == len(members)


def test_unit_paths_must_match_members(tmp_path):
    with pytest.raises(ValueError, match=f"{len(MEMBERS)} unit members need as many"):
        jobs.train_unit(None, MEMBERS, jobs.run_outputs("a", "b"), repeat=0, fold=0, job=None)


def test_a_run_records_the_expressions_its_fold_made_unknown(tmp_path):
    """Counted on each fold's training people (labels.min_expression_images_on: training), the expressions made
    unknown are the fold's own: the run's log names them and its checkpoint keeps them for runs.csv."""
    from emoverify.model.checkpoint import training_facts
    from emoverify.model.safe_load import load_weights

    faces = descriptor_sets()
    run, outputs = Run("tl", "none", 0, 0), jobs.run_outputs(str(tmp_path / "model.pt"), str(tmp_path / "history.csv"))
    job = jobs.JobSettings(1, torch.device("cpu"), io.StringIO())
    for rare, recorded in [(("fear", "neutral"), "fear, neutral"), ((), None)]:
        faces["train"].rare_expressions = rare
        fold = prepare_fold(faces["train"], faces["val"])
        jobs.train_runs(fold, [run], outputs, method=TL, settings=TrainingSettings.from_recipe(HEAD), job=job)
        assert training_facts(load_weights(outputs[0].model)).get("rare_expressions") == recorded
