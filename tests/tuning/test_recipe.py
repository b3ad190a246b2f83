"""The recipe comparison reads validation figures only, pairs candidates on shared fold units, and breaks ties
toward the first (cheaper) candidate."""

import json
import re

import pandas as pd
import pytest

from emoverify.tuning import recipe


def write_run(experiment, fold, values, seed=0, repeat=0, test_auc=None, method="tl"):
    run = experiment / "runs" / method / "none" / f"repeat{repeat}" / f"fold{fold}" / f"seed{seed}"
    run.mkdir(parents=True)
    pd.DataFrame(
        {"epoch": range(1, len(values) + 1), "total": 1.0, "val_auc": 0.9, "val_tar_at_far_1e-2": values}
    ).to_csv(run / "history.csv", index=False)
    if test_auc is not None:
        (run / "metrics.json").write_text(json.dumps({"auc": test_auc, "tar_at_far_1e-2": test_auc}))


def test_the_highest_mean_validation_figure_wins_with_paired_differences(tmp_path):
    for fold, (a, b) in enumerate([(0.40, 0.50), (0.60, 0.62), (0.50, 0.47)]):
        write_run(tmp_path / "a", fold, [0.1, a, a - 0.05])
        write_run(tmp_path / "b", fold, [b])
    table = recipe.compare({"a": tmp_path / "a", "b": tmp_path / "b"}, "tl", "tar_at_far_1e-2")
    assert table["candidate"].tolist() == ["a", "b"]
    assert table["validation_mean"].tolist() == pytest.approx([0.5, 1.59 / 3])
    assert table["diff_to_first"].tolist() == pytest.approx([0.0, 0.09 / 3])
    assert table["units_better_than_first"].tolist() == [0, 2]
    assert table["mean_kept_epoch"].tolist() == pytest.approx([2.0, 1.0])
    assert table["chosen"].tolist() == [False, True]


def test_a_run_counts_its_shipped_epoch_and_figure(tmp_path):
    write_run(tmp_path / "a", 0, [0.6, 0.3, 0.4])
    history_path = next((tmp_path / "a").rglob("history.csv"))
    history = pd.read_csv(history_path)
    history["shipped"] = [False, False, True]  # min_epochs 3: epoch 1's higher figure could not ship
    history.to_csv(history_path, index=False)
    runs = recipe.run_figures(tmp_path / "a", "tl", "tar_at_far_1e-2")
    assert runs[["validation", "best_epoch"]].values.tolist() == [[0.4, 3]]


def test_seeds_are_averaged_within_a_unit_and_ties_go_to_the_first(tmp_path):
    write_run(tmp_path / "a", 0, [0.3], seed=0)
    write_run(tmp_path / "a", 0, [0.5], seed=1)
    write_run(tmp_path / "b", 0, [0.4])
    table = recipe.compare({"a": tmp_path / "a", "b": tmp_path / "b"}, "tl", "tar_at_far_1e-2")
    assert table["validation_mean"].tolist() == pytest.approx([0.4, 0.4])
    assert table["chosen"].tolist() == [True, False]


def test_test_metrics_change_nothing(tmp_path):
    for name, values, test_auc in [("a", [0.5], 0.1), ("b", [0.4], 0.99)]:
        write_run(tmp_path / name, 0, values, test_auc=test_auc)
    before = recipe.compare({"a": tmp_path / "a", "b": tmp_path / "b"}, "tl", "tar_at_far_1e-2")
    (tmp_path / "a/runs/tl/none/repeat0/fold0/seed0/metrics.json").write_text(json.dumps({"auc": 0.0}))
    after = recipe.compare({"a": tmp_path / "a", "b": tmp_path / "b"}, "tl", "tar_at_far_1e-2")
    pd.testing.assert_frame_equal(before, after)
    assert before["chosen"].tolist() == [True, False]


def test_only_shared_fold_units_are_compared(tmp_path):
    write_run(tmp_path / "a", 0, [0.5])
    write_run(tmp_path / "a", 1, [0.9])
    write_run(tmp_path / "b", 0, [0.6])
    table = recipe.compare({"a": tmp_path / "a", "b": tmp_path / "b"}, "tl", "tar_at_far_1e-2")
    assert table["units"].tolist() == [1, 1] and table["chosen"].tolist() == [False, True]
    write_run(tmp_path / "c", 3, [0.6])
    with pytest.raises(recipe.RecipeError, match="share no fold unit"):
        recipe.compare({"a": tmp_path / "a", "c": tmp_path / "c"}, "tl", "tar_at_far_1e-2")


def test_a_candidate_without_runs_is_a_clear_error(tmp_path, capsys):
    write_run(tmp_path / "a", 0, [0.5])
    (tmp_path / "empty").mkdir()
    with pytest.raises(recipe.RecipeError, match="no trained run of tl"):
        recipe.compare({"a": tmp_path / "a", "empty": tmp_path / "empty"}, "tl", "tar_at_far_1e-2")
    assert recipe.main(["--results", str(tmp_path), "--candidates", "a", "empty"]) == 2
    assert "no trained run of tl" in capsys.readouterr().err


def test_the_command_prints_and_writes_the_table(tmp_path, capsys):
    write_run(tmp_path / "a", 0, [0.5])
    write_run(tmp_path / "b", 0, [0.7])
    out = tmp_path / "recipes.csv"
    assert recipe.main(["--results", str(tmp_path), "--candidates", "a", "b", "--out", str(out)]) == 0
    assert re.search(r"^\s*b\s.*True\s*$", capsys.readouterr().out, re.MULTILINE)
    assert pd.read_csv(out)["chosen"].tolist() == [False, True]
