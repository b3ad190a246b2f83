"""The results layout builds every run path and parses it back."""

import pytest

from emoverify.layout import Layout, Run, parse_run_dir, reference_run


@pytest.mark.parametrize(
    "run",
    [
        Run("tl_pdp", "manual", 3, 0),
        Run("tl", "none", 0, 12, repeat=2),
        Run("af", "shuffled", 1, -1),
        reference_run("pixels", 2, 1, repeat=1),
        reference_run("untrained", 0, 0),
    ],
)
def test_a_run_folder_parses_back_to_its_run(run):
    layout = Layout("study")
    for name in ("metrics.json", "history.csv", "embeddings.npz"):
        assert parse_run_dir(layout.run_file(run, name)) == run
    assert parse_run_dir(f"/somewhere/else/{layout.run_file(run, 'metrics.json')}") == run


@pytest.mark.parametrize(
    "path",
    [
        "results/x/tables/summary.csv",
        "results/x/runs/tl/other/repeat0/fold0/seed0/metrics.json",
        "results/x/runs/tl/none/repeat0/fold0/metrics.json",
        "results/x/runs/tl/none/fold0/seed0/metrics.json",
        "repeat0/fold0/seed0/metrics.json",
    ],
)
def test_other_paths_are_not_runs(path):
    assert parse_run_dir(path) is None


def test_patterns_and_files_agree():
    layout = Layout("study")
    run = Run("tl", "none", 1, 2, repeat=3)
    pattern = layout.run_pattern("model.pt")
    wildcards = {"method": "tl", "label_source": "none", "repeat": 3, "fold": 1, "seed": 2}
    assert pattern.format(**wildcards) == layout.run_file(run, "model.pt")
    reference = reference_run("pixels", 1, 2, repeat=3)
    wildcards = {"reference": "pixels", "repeat": 3, "fold": 1, "seed": 2}
    assert layout.reference_pattern("metrics.json").format(**wildcards) == layout.run_file(reference, "metrics.json")
    assert layout.manifest == "results/study/faces/manifest.csv"


def test_job_outputs_one_run_or_every_seed_of_a_group():
    from emoverify.layout import Layout

    layout = Layout("x")
    assert (
        layout.job_outputs("model.pt", None)
        == "results/x/runs/{method}/{label_source}/repeat{repeat}/fold{fold}/seed{seed}/model.pt"
    )
    assert layout.job_outputs("model.pt", [2, 0]) == [
        "results/x/runs/{method}/{label_source}/repeat{repeat}/fold{fold}/seed2/model.pt",
        "results/x/runs/{method}/{label_source}/repeat{repeat}/fold{fold}/seed0/model.pt",
    ]
    assert layout.job_outputs("m.json", [1], reference=True) == [
        "results/x/references/{reference}/repeat{repeat}/fold{fold}/seed1/m.json"
    ]
    assert (
        layout.job_log("train", True)
        == "results/x/logs/train/{method}_{label_source}_repeat{repeat}_fold{fold}_seeds.log"
    )
