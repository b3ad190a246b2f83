"""A job that holds several runs (batch_seeds) gives each run exactly what it gives when it runs alone."""

import io

import pandas as pd
import pytest
import torch
from demo_runs import EVALUATION, FBV, TRAINING, make_demo_sets

from emoverify.evaluation import jobs as evaluation_jobs
from emoverify.layout import Run
from emoverify.training import jobs


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory):
    return make_demo_sets(tmp_path_factory)


def train(demo_sets, folder, seeds):
    folder.mkdir(parents=True, exist_ok=True)
    runs = [Run("tl_pdp_fbv", "manual", 0, seed) for seed in seeds]
    models = [str(folder / f"model{seed}.pt") for seed in seeds]
    histories = [str(folder / f"history{seed}.csv") for seed in seeds]
    settings = dict(method=FBV, training=TRAINING, epochs=2, device=torch.device("cpu"), console=io.StringIO())
    jobs.train_runs(demo_sets, runs, models, histories, **settings)
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
    outputs = evaluation_jobs.output_pairs(
        [str(tmp_path / f"e{r.seed}.npz") for r in runs], [str(tmp_path / f"m{r.seed}.json") for r in runs]
    )
    faces = {"val": demo_sets["val"], "test": demo_sets["test"]}
    settings = dict(device=torch.device("cpu"), evaluation=EVALUATION)
    evaluation_jobs.evaluate_runs(runs, batched, outputs, lambda size: faces, **settings)
    alone = evaluation_jobs.output_pairs(str(tmp_path / "alone.npz"), str(tmp_path / "alone.json"))
    evaluation_jobs.evaluate_runs(runs[1:], batched[1:], alone, lambda size: faces, **settings)
    assert (tmp_path / "alone.json").read_text() == (tmp_path / f"m{runs[1].seed}.json").read_text()


def test_paths_must_match_runs(demo_sets, tmp_path):
    with pytest.raises(ValueError, match="2 runs need as many"):
        jobs.train_runs(demo_sets, [Run("tl", "none", 0, 0)] * 2, ["a"], ["b"])
