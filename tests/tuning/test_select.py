"""Selection from validation figures alone: seeds averaged, ties to the smaller setting, missing candidates,
folds with too few validation people."""

import pandas as pd
import pytest

from emoverify.tuning import select


def history(path, values, auc=None, figure="tar_at_far_1e-2"):
    frame = pd.DataFrame({"epoch": range(1, len(values) + 1), "total": 1.0, f"val_{figure}": values})
    frame["val_auc"] = auc if auc is not None else [0.9] * len(values)
    frame.to_csv(path, index=False)
    return path


def folds(n_val):
    people = [f"p{i}" for i in range(n_val + 4)]
    splits = ["val"] * n_val + ["train"] * 2 + ["test"] * 2
    return pd.DataFrame({"image_id": people, "identity": people, "fold": 0, "split": splits, "repeat": 0})


def selection(candidates, n_val=10, default="b", fallback=None):
    return select.select(
        candidates,
        figure="tar_at_far_1e-2",
        folds=folds(n_val),
        repeat=0,
        fold=0,
        default_name=default,
        min_validation_identities=8,
        fallback=fallback,
    )


def test_the_best_mean_over_seeds_wins(tmp_path):
    a = [history(tmp_path / "a0.csv", [0.2, 0.6]), history(tmp_path / "a1.csv", [0.4, 0.3])]  # mean of bests 0.5
    b = [history(tmp_path / "b0.csv", [0.55]), history(tmp_path / "b1.csv", [0.35])]  # 0.45
    record = selection([("a", {"w": 0.01}, a), ("b", {"w": 0.1}, b)])
    assert record["winner"] == "a" and record["winner_settings"] == {"w": 0.01}
    assert [c["validation"] for c in record["candidates"]] == pytest.approx([0.5, 0.45])
    assert record["tuned"] and record["validation_identities"] == 10


def test_a_run_scores_its_shipped_epoch_not_its_best_value(tmp_path):
    """With min_epochs or resolved early stopping the kept epoch need not hold the figure's best value: the
    history's ``shipped`` row is the run's figure (a history without the column keeps the best value)."""
    path = history(tmp_path / "a.csv", [0.6, 0.3, 0.4])
    assert select.run_figure(path, "tar_at_far_1e-2") == (0.6, "tar_at_far_1e-2")
    frame = pd.read_csv(path)
    frame["shipped"] = [False, False, True]
    frame.to_csv(path, index=False)
    assert select.run_figure(path, "tar_at_far_1e-2") == (0.4, "tar_at_far_1e-2")


def test_ties_go_to_the_smaller_setting(tmp_path):
    first = [history(tmp_path / "a.csv", [0.5])]
    second = [history(tmp_path / "b.csv", [0.5])]
    record = selection([("small", {"w": 0.01}, first), ("large", {"w": 1.0}, second)])
    assert record["winner"] == "small" and "2 tied" in record["reason"]


def test_a_candidate_that_trained_nothing_is_left_out_with_its_reason(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    good = [history(tmp_path / "g.csv", [0.3])]
    record = selection([("a", {"w": 0.01}, [empty]), ("b", {"w": 0.1}, good)])
    assert record["winner"] == "b"
    assert record["candidates"][0]["status"] == "missing: no run trained"
    nothing = selection([("a", {"w": 0.01}, [empty])], default="a")
    assert nothing["winner"] is None and nothing["reason"] == "no candidate trained"


def test_a_seed_that_trained_nothing_leaves_the_others(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    record = selection([("a", {"w": 0.01}, [empty, history(tmp_path / "a.csv", [0.7])])], default="a")
    assert record["candidates"][0]["runs_trained"] == 1 and record["candidates"][0]["validation"] == 0.7


def test_too_few_validation_people_fall_back_to_the_configured_setting(tmp_path):
    better = [history(tmp_path / "a.csv", [0.9])]
    default = [history(tmp_path / "b.csv", [0.1])]
    record = selection([("a", {"w": 0.01}, better), ("b", {"w": 0.1}, default)], n_val=2, default="b")
    assert record["winner"] == "b" and not record["tuned"]
    assert "2 validation people < 8" in record["reason"]


def test_without_the_tar_figure_the_auc_ranks(tmp_path):
    a = history(tmp_path / "a.csv", [float("nan")] * 2, auc=[0.7, 0.8])
    assert select.run_figure(a, "tar_at_far_1e-2") == (0.8, "auc")
    assert select.run_figure(tmp_path / "absent.csv", "tar_at_far_1e-2") is None


def test_a_fallback_outside_the_grid_is_taken_only_where_the_fold_cannot_rank(tmp_path):
    grid_points = [("a", {"w": 0.01}, [history(tmp_path / "a.csv", [0.9])])]
    fallback = ("f", {"w": 0.1}, [history(tmp_path / "f.csv", [0.2])])

    ranked = selection(grid_points, n_val=10, default="f", fallback=fallback)
    assert ranked["winner"] == "a" and [c["name"] for c in ranked["candidates"]] == ["a"]  # never ranked
    short = selection(grid_points, n_val=3, default="f", fallback=fallback)
    assert short["winner"] == "f" and short["winner_settings"] == {"w": 0.1} and short["reason"].startswith("fallback")


def test_a_heads_untrained_epoch_zero_counts_for_its_candidate(tmp_path):
    """A head's history starts with epoch 0, the untrained head (no loss): when no candidate's training beats
    it, every candidate's figure is the untrained one, they tie, and the smallest setting ships it."""
    untrained = 0.7
    paths = {}
    for name, trained in {"a": [0.5, 0.6], "b": [0.65, 0.4]}.items():
        frame = pd.DataFrame({"epoch": [0, 1, 2], "total": [float("nan"), 1.0, 0.9]})
        frame["val_tar_at_far_1e-2"], frame["val_auc"] = [untrained, *trained], 0.9
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        paths[name] = [tmp_path / f"{name}.csv"]
    record = selection([("a", {"w": 0.01}, paths["a"]), ("b", {"w": 0.1}, paths["b"])])
    assert [c["validation"] for c in record["candidates"]] == [untrained, untrained]
    assert record["winner"] == "a" and "2 tied" in record["reason"]
