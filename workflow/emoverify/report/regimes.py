"""Regimes side by side: the summary tables of experiments on one dataset (say the from-scratch `jaffe` and
the pretrained `jaffe_pretrained`) as one table whose rows name their experiment, once their folds are
checked to be the same."""

from __future__ import annotations

import pandas as pd

from emoverify.report.statistics import to_markdown

FOLD_COLUMNS = ["image_id", "repeat", "fold", "split"]


class RegimesError(ValueError):
    """Experiments that cannot be put side by side; the message says why."""


def fold_difference(folds: dict[str, pd.DataFrame]) -> str | None:
    """Why the experiments' fold assignments differ (None when every face has the same repeat, fold and split
    everywhere): a side-by-side table is only a comparison on the same people."""
    names = list(folds)
    first = _assignment(folds[names[0]])
    for name in names[1:]:
        other = _assignment(folds[name])
        if not first.equals(other):
            only = set(first["image_id"]) ^ set(other["image_id"])
            detail = f"{len(only)} faces are in one only" if only else "the same faces fall in other folds or splits"
            return f"experiments {names[0]} and {name} were not split into the same folds ({detail})"
    return None


def side_by_side(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every row of each experiment's summary, prefixed by its experiment, in the order given."""
    frames = [summary.assign(experiment=name)[["experiment", *summary.columns]] for name, summary in summaries.items()]
    return pd.concat(frames, ignore_index=True, sort=False)


def regimes_markdown(table: pd.DataFrame) -> str:
    """The side-by-side table in Markdown, each method labelled with its experiment."""
    labelled = table.assign(method=table["method"] + " [" + table["experiment"] + "]")
    return to_markdown(labelled.drop(columns="experiment"))


def _assignment(folds: pd.DataFrame) -> pd.DataFrame:
    columns = [column for column in FOLD_COLUMNS if column in folds]
    table = folds[columns].astype(str)
    return table.sort_values(columns).reset_index(drop=True)
