"""Regimes side by side: summaries of experiments on the same folds, and a refusal when the folds differ."""

import pandas as pd
import pytest

from emoverify.report import regimes


def folds_table(shift=0):
    rows = [{"image_id": f"img{i}", "repeat": 0, "fold": (i + shift) % 2, "split": "test"} for i in range(6)]
    return pd.DataFrame(rows)


def summary(auc):
    return pd.DataFrame(
        {
            "method": ["tl", "dlib"],
            "labels": ["none", "none"],
            "reference": [False, True],
            "n_runs": [2, 2],
            "n_units": [2, 2],
            "n_missing": [0, 0],
            "auc_mean": [auc, 0.98],
            "auc_sd": [0.01, 0.01],
            "auc_ci95_low": [auc - 0.1, 0.9],
            "auc_ci95_high": [auc + 0.05, 1.0],
            "auc_n": [2, 2],
        }
    )


def test_same_folds_in_another_row_order_are_the_same():
    shuffled = folds_table().sample(frac=1, random_state=0)
    assert regimes.fold_difference({"jaffe": folds_table(), "jaffe_pretrained": shuffled}) is None


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (folds_table(shift=1), "the same faces fall in other folds"),
        (folds_table().iloc[1:], "1 faces are in one only"),
    ],
)
def test_other_folds_are_named(other, message):
    problem = regimes.fold_difference({"jaffe": folds_table(), "jaffe_pretrained": other})
    assert problem.startswith("experiments jaffe and jaffe_pretrained were not split") and message in problem


def test_rows_keep_their_experiment_and_order():
    table = regimes.side_by_side({"jaffe_pretrained": summary(0.95), "jaffe": summary(0.90)})
    assert table["experiment"].tolist() == ["jaffe_pretrained"] * 2 + ["jaffe"] * 2
    assert table.loc[table["experiment"] == "jaffe", "auc_mean"].tolist() == [0.90, 0.98]
    markdown = regimes.regimes_markdown(table)
    assert "| tl [jaffe_pretrained] | none |" in markdown and "| tl [jaffe] | none |" in markdown
    assert "0.900 ± 0.010 [0.800, 0.950]" in markdown
